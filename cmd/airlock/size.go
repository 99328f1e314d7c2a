package main

import (
	"fmt"

	"github.com/docker/go-units"
)

func parseSize(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 512m", s)
	}
	return n, nil
}
