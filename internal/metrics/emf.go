// Package metrics writes CloudWatch metrics in the embedded metric format (EMF): one JSON object
// per line on a Lambda's stdout, which CloudWatch Logs turns into metrics without any API call.
// Every metric has one dimension, Function ("enforcer" or "reconciler"), so the alarms in
// terraform/ can name them exactly; labels stay low-cardinality.
//
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// The functions, the value of the Function dimension.
const (
	FunctionEnforcer   = "enforcer"
	FunctionReconciler = "reconciler"
)

// DimensionFunction is the one dimension every metric has.
const DimensionFunction = "Function"

// The metric names. The Terraform alarms use these exact names.
const (
	// FailedRecords: SQS records the enforcer returned as batch item failures (Lambda's Errors
	// metric does not count partial batch failures).
	FailedRecords = "FailedRecords"
	// DroppedRecords: SQS records acknowledged without being handled (poison).
	DroppedRecords = "DroppedRecords"
	// Actions: instances stopped or terminated.
	Actions = "Actions"
	// ActionFailures: stop or terminate actions that failed.
	ActionFailures = "ActionFailures"
	// Violators: violators found by a sweep.
	Violators = "Violators"
	// UnverifiedRegions: regions whose canary check failed.
	UnverifiedRegions = "UnverifiedRegions"
	// UnreachedRegions: regions a sweep did not reach.
	UnreachedRegions = "UnreachedRegions"
	// DocumentWriteFailures: documents not written to their sink.
	DocumentWriteFailures = "DocumentWriteFailures"
)

// Unit is a CloudWatch unit.
type Unit string

// The units awsaudit uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
)

// Metric is one value.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
}

// Emitter prints EMF lines. It is safe for concurrent use.
type Emitter struct {
	// Namespace is the CloudWatch namespace (config's AWSAUDIT_METRICS_NAMESPACE).
	Namespace string
	// Function is the Function dimension's value.
	Function string
	// W is where the lines go: the Lambda's stdout.
	W   io.Writer
	Now func() time.Time

	mu sync.Mutex
}

type metricDef struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type awsMeta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Line returns the EMF object for ms, without the newline.
func (e *Emitter) Line(ms ...Metric) ([]byte, error) {
	root := map[string]any{DimensionFunction: e.Function}
	d := directive{Namespace: e.Namespace, Dimensions: [][]string{{DimensionFunction}}, Metrics: make([]metricDef, 0, len(ms))}
	for _, m := range ms {
		if m.Name == "" || m.Name == DimensionFunction || m.Name == "_aws" {
			return nil, fmt.Errorf("metric name %q is reserved or empty", m.Name)
		}
		if _, dup := root[m.Name]; dup {
			return nil, fmt.Errorf("metric %s given twice", m.Name)
		}
		d.Metrics = append(d.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
		root[m.Name] = m.Value
	}
	root["_aws"] = awsMeta{Timestamp: e.Now().UnixMilli(), CloudWatchMetrics: []directive{d}}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("encoding metrics: %w", err)
	}
	return b, nil
}

// Emit prints one EMF line holding ms.
func (e *Emitter) Emit(ms ...Metric) error {
	b, err := e.Line(ms...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.W.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	return nil
}
