package cli

import (
	"context"
	"fmt"
)

// runShip sends spooled documents to Elasticsearch.
// TODO(es-sink): replaced by the essink wiring.
func runShip(ctx context.Context, args []string, env Env) int {
	fmt.Fprintln(env.Stderr, "awsaudit: ship is not built yet")
	return ExitError
}
