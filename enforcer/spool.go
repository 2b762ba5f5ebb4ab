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
// the messages come back. A document too large for any message is logged in full, the last place
// it is kept.
func SpoolDocuments(ctx context.Context, q QueueAPI, queueURL string, delay int32, runID string, docs []document.Document, log *slog.Logger) error {
	bodies, tooLarge, err := EncodeDocuments(runID, docs)
	if err != nil {
		return err
	}
	if len(tooLarge) > 0 {
		log.ErrorContext(ctx, "document too large for a queue message; it is kept only in this log", logkey.Count, len(tooLarge))
		logLost(ctx, log, tooLarge)
	}
	for _, b := range bodies {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:     aws.String(queueURL),
			MessageBody:  aws.String(b),
			DelaySeconds: delay,
		}); err != nil {
			return fmt.Errorf("sending documents to the queue: %w", err)
		}
	}
	return nil
}
