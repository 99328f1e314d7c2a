package dockertest

import (
	"os"

	"github.com/airlock-rbi/airlock/images"
)

// ChromiumImageEnv names another tag for the Chromium workspace image that
// tests build and run. Two checkouts testing at once on one daemon (each
// with its own airlock binary, so each rebuilding the image) would
// otherwise retag airlock/chromium:latest under each other's sessions.
const ChromiumImageEnv = "AIRLOCK_TEST_CHROMIUM_IMAGE"

// ChromiumImage is the Chromium workspace image tests use:
// images.Chromium unless ChromiumImageEnv says otherwise.
func ChromiumImage() string {
	if tag := os.Getenv(ChromiumImageEnv); tag != "" {
		return tag
	}
	return images.Chromium
}
