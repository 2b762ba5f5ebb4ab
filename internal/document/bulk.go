package document

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Default index names.
const (
	DefaultAuditIndex    = "aws-tag-audit"
	DefaultViolatorIndex = "aws-tag-violator"
)

// Indices names the two indices.
type Indices struct {
	Audit, Violator string
}

// DefaultIndices returns the default index names.
func DefaultIndices() Indices {
	return Indices{Audit: DefaultAuditIndex, Violator: DefaultViolatorIndex}
}

// Op is the _bulk action a document is written with.
type Op string

// The ops. The sweep writes with index (a rerun of the same run replaces its documents); the
// event path writes with create, so the first outcome recorded for an event wins and a
// redelivered event cannot overwrite it.
const (
	OpIndex  Op = "index"
	OpCreate Op = "create"
)

// Document is one document ready for a sink: where it goes, its deterministic id, and its body,
// encoded once.
type Document struct {
	Index string
	ID    string
	Op    Op
	Body  json.RawMessage
}

// New encodes body into a document.
func New(index, id string, op Op, body any) (Document, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return Document{}, fmt.Errorf("encoding document %s/%s: %w", index, id, err)
	}
	return Document{Index: index, ID: id, Op: op, Body: b}, nil
}

// ViolatorID is a violator document's id: the run and the instance.
func ViolatorID(runID, instanceID string) string { return runID + ":" + instanceID }

// RollupID is a rollup's id: the run.
func RollupID(runID string) string { return runID }

type bulkMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// AppendBulk appends the document's _bulk action line and body line, each ending in a newline.
func AppendBulk(buf []byte, d Document) []byte {
	buf = append(buf, `{"`...)
	buf = append(buf, d.Op...)
	buf = append(buf, `":{"_index":`...)
	buf = appendJSONString(buf, d.Index)
	buf = append(buf, `,"_id":`...)
	buf = appendJSONString(buf, d.ID)
	buf = append(buf, "}}\n"...)
	buf = appendCompact(buf, d.Body)
	return append(buf, '\n')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(buf, b...)
}

// appendCompact appends body on one line (bodies from New already are).
func appendCompact(buf []byte, body []byte) []byte {
	if bytes.IndexByte(body, '\n') < 0 {
		return append(buf, body...)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		return append(buf, bytes.ReplaceAll(body, []byte("\n"), []byte(" "))...)
	}
	return append(buf, b.Bytes()...)
}

// ReadBulk reads documents in _bulk NDJSON form, as WriteBulk and NDJSON sinks write them.
// Blank lines are skipped; anything else that is not an index or create action followed by a
// JSON object is an error naming its line.
func ReadBulk(r io.Reader) ([]Document, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	var (
		docs    []Document
		pending *Document
		line    int
	)
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if pending != nil {
			if !json.Valid(b) || b[0] != '{' {
				return nil, fmt.Errorf("line %d: document is not a JSON object", line)
			}
			pending.Body = append(json.RawMessage(nil), b...)
			docs = append(docs, *pending)
			pending = nil
			continue
		}
		var meta map[Op]bulkMeta
		if err := json.Unmarshal(b, &meta); err != nil || len(meta) != 1 {
			return nil, fmt.Errorf("line %d: not a _bulk action line", line)
		}
		for op, m := range meta {
			if op != OpIndex && op != OpCreate {
				return nil, fmt.Errorf("line %d: action %q is not index or create", line, op)
			}
			if m.Index == "" || m.ID == "" {
				return nil, fmt.Errorf("line %d: action without _index or _id", line)
			}
			pending = &Document{Index: m.Index, ID: m.ID, Op: op}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading line %d: %w", line+1, err)
	}
	if pending != nil {
		return nil, errors.New("the last action line has no document")
	}
	return docs, nil
}
