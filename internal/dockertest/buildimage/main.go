// Command buildimage builds Airlock's test image (airlock/testapp:latest)
// on the local daemon; `make images` runs it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

func main() {
	ctx := context.Background()
	cli, err := dockertest.Connect(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildimage:", err)
		os.Exit(1)
	}
	defer cli.Close()
	if err := dockertest.BuildTestImage(ctx, cli); err != nil {
		fmt.Fprintln(os.Stderr, "buildimage:", err)
		os.Exit(1)
	}
	fmt.Println("built", dockertest.TestImage)
}
