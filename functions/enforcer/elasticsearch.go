package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
)

// openElasticsearch returns the Elasticsearch sink, with its index templates installed. An
// unreachable Elasticsearch is not an init failure (the sink installs the templates before its
// first write, and the handler spools on the queue what it cannot write); refused credentials
// or a rejected template are.
func openElasticsearch(ctx context.Context, es config.ES, log *slog.Logger) (document.Sink, error) {
	c := essink.FromES(es, log)
	// Lambda allows an init phase 10 s; an Elasticsearch slow to answer is not worth losing it.
	c.StartupTimeout = esStartupTimeout
	return essink.Open(ctx, c)
}

// esStartupTimeout bounds the template installation at init.
const esStartupTimeout = 5 * time.Second
