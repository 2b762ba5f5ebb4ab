package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
)

// openElasticsearch returns the Elasticsearch sink, with its index templates installed.
//
// What happens at start when Elasticsearch is not right:
//   - Credentials or privileges refused, a certificate not trusted, a template rejected, an
//     existing index with a field whose type awsaudit's mapping has changed: the command stops
//     here, before any AWS call (the caller refuses it, exit 2). Waiting will not
//     fix these, and a sweep that acts on instances should not run knowing it cannot record
//     what it did.
//   - Unreachable or overloaded (essink.ErrUnavailable): a warning, and the command runs. The
//     sink installs the templates before its first write; the documents it still cannot write
//     are spooled at the end, the spool file is named, and the sweep exits 4.
func openElasticsearch(ctx context.Context, es config.ES, log *slog.Logger) (document.Sink, error) {
	s, err := essink.Open(ctx, essink.FromES(es, log))
	if err != nil {
		return nil, esHint(err)
	}
	return s, nil
}

// esHint adds to an Elasticsearch error where the setting it is about comes from.
func esHint(err error) error {
	if essink.IsAuth(err) {
		return fmt.Errorf("%w (the credentials come from %s, or %s and %s)", err, config.EnvESAPIKey, config.EnvESUsername, config.EnvESPassword)
	}
	return err
}
