package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
)

// openElasticsearch returns the Elasticsearch sink, with its index templates installed.
// TODO(es-sink): replaced by the internal/essink wiring.
func openElasticsearch(ctx context.Context, es config.ES, log *slog.Logger) (document.Sink, error) {
	return nil, errors.New("--es-url: Elasticsearch support is not built yet")
}
