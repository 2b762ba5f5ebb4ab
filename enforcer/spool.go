package enforcer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// SpoolDocuments sends docs to the enforcer's queue as documents messages, delayed by delay
// seconds: SQS is the durable spool of both Lambdas, and the enforcer writes the documents when
// the messages come back. The delay is at least 1 s, whatever delay says: SQS's API takes an
// omitted DelaySeconds (which a 0 is, in the SDK) as "use the queue's default", and the
// enforcer's queue delays every message by the grace period by default.
//
// Every document it does not send is logged in full ("DOCUMENT NOT WRITTEN"), the last place it
// is kept: one too large for any message, and, when a send fails, those of that message and of
// the messages after it. The caller only reports the error; it must not log the documents again.
func SpoolDocuments(ctx context.Context, q QueueAPI, queueURL string, delay int32, runID string, docs []document.Document, log *slog.Logger) error {
	batches, tooLarge, err := encodeDocuments(runID, docs)
	if err != nil {
		logLost(ctx, log, docs)
		return err
	}
	if len(tooLarge) > 0 {
		log.ErrorContext(ctx, "document too large for a queue message; it is kept only in this log", logkey.Count, len(tooLarge))
		logLost(ctx, log, tooLarge)
	}
	delay = max(delay, 1)
	for i, b := range batches {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:     aws.String(queueURL),
			MessageBody:  aws.String(b.body),
			DelaySeconds: delay,
		}); err != nil {
			var lost []document.Document
			for _, rest := range batches[i:] {
				lost = append(lost, rest.docs...)
			}
			log.ErrorContext(ctx, "spooling documents on the queue failed; the documents not sent are kept only in this log",
				logkey.Count, len(lost), "sent", len(docs)-len(tooLarge)-len(lost), logkey.Error, err.Error())
			logLost(ctx, log, lost)
			return fmt.Errorf("sending documents to the queue (%d of %d not sent, logged in full): %w", len(lost), len(docs), err)
		}
	}
	return nil
}

// logLost writes documents that could be neither written nor spooled into the log, the last
// place they are kept.
func logLost(ctx context.Context, log *slog.Logger, docs []document.Document) {
	for _, d := range docs {
		log.ErrorContext(ctx, "DOCUMENT NOT WRITTEN: kept only in this log", logkey.Index, d.Index, logkey.DocID, d.ID, "op", string(d.Op), "body", string(d.Body))
	}
}
