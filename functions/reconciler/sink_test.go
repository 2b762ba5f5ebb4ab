package main

import (
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/essink"
)

// TestSweepSink: the reconciler's sink is sized for the write's window, not the CLI's defaults:
// the two requests a write may need when Elasticsearch hangs (the templates, then a _bulk), each
// with its attempts and the waits between them, end within the window the default reserve
// leaves to a sweep that used all its time, and the settings read from the environment are kept.
func TestSweepSink(t *testing.T) {
	c := essink.Config{URL: "https://es.example.com"}
	sweepSink.Apply(&c)
	if c.URL != "https://es.example.com" || c.Timeout != 10*time.Second || c.RetryMax != 2 || c.ItemRetryMax != 2 {
		t.Fatalf("config %+v", c)
	}
	attempts := time.Duration(c.RetryMax + 1)
	worst := attempts*c.Timeout + attempts*c.RetryWaitMax
	if window := config.DefaultTimeReserve/2 - spoolReserve; 2*worst > window {
		t.Fatalf("one request may take %v: two exceed the %v the default reserve leaves for writing", worst, window)
	}
	if c.Timeout >= essink.DefaultTimeout || c.RetryMax >= essink.DefaultRetryMax || c.RetryWaitMax >= essink.DefaultRetryWaitMax {
		t.Fatal("the reconciler's sink is as patient as the CLI's")
	}
}

// TestReservesFitTheMinimum: with the shortest time reserve, the write still ends after the
// sweep stops (halfway through the reserve), and spooling ends after the write.
func TestReservesFitTheMinimum(t *testing.T) {
	if stop := config.MinTimeReserve / 2; spoolReserve >= stop {
		t.Fatalf("writing ends %v before the deadline, no later than the sweep stops (%v before it)", spoolReserve, stop)
	}
	if logReserve <= 0 || logReserve >= spoolReserve {
		t.Fatalf("spooling ends %v before the deadline, writing %v", logReserve, spoolReserve)
	}
}
