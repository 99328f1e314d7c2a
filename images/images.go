// Package images holds the build contexts of Airlock's workspace images.
// Each directory is an ordinary Dockerfile; the airlock binary is added to
// the context when the image is built (see internal/imagebuild).
package images

import "embed"

// FS holds every image's build context.
//
//go:embed minimal chromium
var FS embed.FS

// Minimal is the agent-only image.
const Minimal = "airlock/minimal:latest"

// Chromium is the Chromium workspace: Debian's Chromium and Xvfb on
// debian:bookworm-slim. Run it with chromium/seccomp.json as its seccomp
// profile so Chromium's sandbox works without capabilities.
const Chromium = "airlock/chromium:latest"
