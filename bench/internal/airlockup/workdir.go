package airlockup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WorkDir makes the benchmark's temporary directory, where `airlock up`
// keeps its data and its log (up.log). cleanup removes it; with keepLog it
// first moves up.log to a directory of its own and says where.
func WorkDir(bench string, keepLog bool) (dir string, cleanup func() error, err error) {
	dir, err = os.MkdirTemp("", "airlock-bench-"+bench+"-")
	if err != nil {
		return "", nil, fmt.Errorf("temp dir: %w", err)
	}
	cleanup = func() error {
		var errs []error
		if keepLog {
			logDir, err := os.MkdirTemp("", "airlock-bench-"+bench+"-log-")
			if err == nil {
				err = os.Rename(filepath.Join(dir, "up.log"), filepath.Join(logDir, "up.log"))
			}
			if err == nil {
				fmt.Fprintf(os.Stderr, "bench/%s: log of airlock up kept in %s\n", bench, filepath.Join(logDir, "up.log"))
			} else {
				errs = append(errs, fmt.Errorf("keep log: %w", err))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove temp dir: %w", err))
		}
		return errors.Join(errs...)
	}
	return dir, cleanup, nil
}
