package main

import (
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/essink"
)

// TestEventSink: the enforcer's sink is sized for a 60 s invocation, not the CLI's defaults: one
// request (its attempts and the waits between them) ends well within the time the handler
// leaves for writing, and the settings read from the environment are kept.
func TestEventSink(t *testing.T) {
	c := essink.Config{URL: "https://es.example.com"}
	eventSink.Apply(&c)
	if c.URL != "https://es.example.com" || c.Timeout != 5*time.Second || c.RetryMax != 2 || c.ItemRetryMax != 2 {
		t.Fatalf("config %+v", c)
	}
	attempts := time.Duration(c.RetryMax + 1)
	worst := attempts*c.Timeout + attempts*c.RetryWaitMax
	if budget := 60*time.Second - enforcer.DefaultSpoolReserve; 2*worst > budget {
		t.Fatalf("one request may take %v: two (the templates, then _bulk) exceed the %v the handler gives a write", worst, budget)
	}
	if c.Timeout >= essink.DefaultTimeout || c.RetryMax >= essink.DefaultRetryMax {
		t.Fatal("the enforcer's sink is as patient as the CLI's")
	}
}
