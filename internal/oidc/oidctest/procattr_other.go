//go:build !linux

package oidctest

import "os/exec"

// dieWithTest does nothing where there is no parent-death signal; the
// test's cleanup still stops Hydra.
func dieWithTest(*exec.Cmd) {}
