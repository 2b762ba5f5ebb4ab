package cli

import (
	"context"
	"fmt"
)

// runEnforce runs the event path as an SQS worker.
// TODO(event-path): replaced by the worker wiring.
func runEnforce(ctx context.Context, args []string, env Env) int {
	fmt.Fprintln(env.Stderr, "awsaudit: enforce is not built yet")
	return ExitError
}
