// Command awsaudit keeps an AWS account's EC2 instances inside its tag scheme. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/awsaudit/awsaudit/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
