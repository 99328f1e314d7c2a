// Package images holds the build contexts of Airlock's workspace images.
// Each directory is an ordinary Dockerfile; the airlock binary is added to
// the context when the image is built (see internal/imagebuild).
package images

import "embed"

// FS holds every image's build context.
//
//go:embed minimal
var FS embed.FS

// Minimal is the agent-only image.
const Minimal = "airlock/minimal:latest"
