package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// bulkActions are the actions ES's bulk parser knows.
var bulkActions = map[string]bool{"index": true, "create": true, "delete": true, "update": true}

// bulk answers POST /_bulk and POST /{index}/_bulk. The body is parsed as
// ES's BulkRequestParser does: whole-request errors (missing final newline,
// malformed action line) reject everything, while problems with one
// document fail only its item.
func (s *Server) bulk(req *request) reply {
	ops, warnings, e := parseBulk(req.body, req.vars["index"], req.query.Get("pipeline"), req.query.Get("require_alias") == "true")
	if e != nil {
		return errReply(e)
	}
	if e := validateBulk(ops); e != nil {
		return errReply(e)
	}
	// The Rejecter runs before the lock so that it may inspect the server.
	for _, op := range ops {
		if !op.hasID && op.action != "delete" {
			op.id, op.hasID = randomID(20), true
		}
		op.rejected = s.rejectItem(op.index, op.id, op.source)
	}

	s.mu.Lock()
	items := make([]any, 0, len(ops))
	errors := false
	forced := forcedRefresh(req)
	written := map[string]bool{}
	for _, op := range ops {
		res := s.applyWrite(op)
		if res.err != nil {
			errors = true
		}
		item := res.item(forced)
		if res.err == nil {
			item = append(item, kv{"status", res.status})
		}
		items = append(items, obj{{op.action, item}})
		written[op.index] = true
	}
	for index := range written {
		s.refreshWritten(req, index)
	}
	s.mu.Unlock()
	var header http.Header
	for _, w := range warnings {
		if header == nil {
			header = http.Header{}
		}
		header.Add("Warning", fmt.Sprintf("299 Elasticsearch-%s \"%s\"", s.opts.Version, w))
	}
	return reply{status: http.StatusOK, header: header, body: obj{
		{"errors", errors},
		{"took", s.opts.Now().Sub(req.start).Milliseconds()},
		{"items", items},
	}}
}

// parseBulk splits the NDJSON body into operations; warnings are ES's
// deprecation warnings for sloppy action lines.
func parseBulk(body []byte, defaultIndex, defaultPipeline string, defaultRequireAlias bool) (ops []*writeOp, warnings []string, e *esError) {
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return nil, nil, illegalArgument("The bulk request must be terminated by a newline [\\n]")
	}
	line := 0
	from := 0
	for from < len(body) {
		next := bytes.IndexByte(body[from:], '\n')
		if next < 0 {
			break
		}
		actionLine := body[from : from+next]
		from += next + 1
		line++
		op, warning, e := parseActionLine(actionLine, line, defaultIndex, defaultPipeline, defaultRequireAlias)
		if e != nil {
			return nil, nil, e
		}
		if warning != "" && !contains(warnings, warning) {
			warnings = append(warnings, warning)
		}
		if op == nil {
			continue // blank line
		}
		if op.action != "delete" {
			next := bytes.IndexByte(body[from:], '\n')
			if next < 0 {
				// ES drops an action line that has no document line after it.
				break
			}
			doc := body[from : from+next]
			from += next + 1
			line++
			op.source = bytes.TrimSuffix(doc, []byte{'\r'})
		}
		ops = append(ops, op)
	}
	return ops, warnings, nil
}

// parseActionLine reads {"action":{metadata}}; nil for a blank line. Like
// ES 8 it reads only as far as the end of the metadata object: a missing
// final brace or trailing data cost a deprecation warning, not an error.
func parseActionLine(data []byte, line int, defaultIndex, defaultPipeline string, defaultRequireAlias bool) (*writeOp, string, *esError) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, "", nil
	}
	malformed := func(format string, args ...any) *esError {
		return illegalArgument("Malformed action/metadata line [%d], %s", line, fmt.Sprintf(format, args...))
	}
	tp := &treeParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	tp.dec.UseNumber()
	syntax := func(err error) *esError {
		se := tp.wrap(err).(*syntaxError)
		return xContentParse(data, se.off, "%s", se.msg)
	}
	off := tp.start()
	tok, err := tp.dec.Token()
	if err != nil {
		return nil, "", syntax(err)
	}
	if tok != json.Delim('{') {
		n, err := tp.fromToken(tok, off)
		if err != nil {
			return nil, "", syntax(err)
		}
		return nil, "", malformed("expected START_OBJECT but found [%s]", n.kind.tokenName(n))
	}
	tok, err = tp.dec.Token()
	if err != nil {
		return nil, "", syntax(err)
	}
	action, ok := tok.(string)
	if !ok {
		return nil, "", malformed("expected FIELD_NAME but found [END_OBJECT]")
	}
	if !bulkActions[action] {
		return nil, "", malformed("expected field [create], [delete], [index] or [update] but found [%s]", action)
	}
	if action == "update" {
		return nil, "", newError(http.StatusBadRequest, "estest_not_modelled_exception", "estest does not model the bulk action [update] (line [%d])", line)
	}
	metaOff := tp.start()
	var raw json.RawMessage
	if err := tp.dec.Decode(&raw); err != nil {
		return nil, "", syntax(err)
	}
	meta, err := parseTree(raw)
	if err != nil {
		se := err.(*syntaxError)
		return nil, "", xContentParse(data, metaOff+se.off, "%s", se.msg)
	}
	if meta.kind != jObject {
		return nil, "", malformed("expected START_OBJECT or END_OBJECT but found [%s]", meta.kind.tokenName(meta))
	}
	warning := ""
	switch tok, err := tp.dec.Token(); {
	case err != nil:
		warning = "A bulk action wasn't closed properly with the closing brace. Malformed objects are currently accepted but will be rejected in a future version."
	case tok != json.Delim('}'):
		warning = "A bulk action object contained multiple keys. Additional keys are currently ignored but will be rejected in a future version."
	default:
		if _, err := tp.dec.Token(); err != io.EOF {
			warning = "A bulk action contained trailing data after the closing brace. This is currently ignored but will be rejected in a future version."
		}
	}

	op := &writeOp{action: action, index: defaultIndex, pipeline: defaultPipeline, requireAlias: defaultRequireAlias}
	for i, k := range meta.keys {
		v := meta.vals[i]
		switch v.kind {
		case jNull:
			continue
		case jArray:
			return nil, "", malformed("expected a simple value for field [%s] but found [START_ARRAY]", k)
		case jObject:
			if k != "dynamic_templates" && k != "_source" {
				return nil, "", malformed("expected a simple value for field [%s] but found [START_OBJECT]", k)
			}
			continue
		}
		switch k {
		case "_index":
			op.index = v.text()
		case "_id":
			op.id, op.hasID = v.text(), true
		case "routing", "retry_on_conflict", "_source", "require_data_stream", "list_executed_pipelines":
		case "op_type":
			if v.text() == "create" {
				op.action = "create"
			}
		case "pipeline":
			op.pipeline = v.text()
		case "require_alias":
			op.requireAlias = v.text() == "true"
		case "version", "if_seq_no", "if_primary_term":
			n, err := strconv.ParseInt(v.text(), 10, 64)
			if err != nil {
				return nil, "", xContentParse(data, metaOff+v.off, "[%s] failed to parse field", k)
			}
			switch k {
			case "version":
				op.version = &n
			case "if_seq_no":
				op.ifSeqNo = &n
			default:
				op.ifPrimary = &n
			}
		case "version_type":
			op.versionType = v.text()
		default:
			return nil, "", illegalArgument("Action/metadata line [%d] contains an unknown parameter [%s]", line, k)
		}
	}
	return op, warning, nil
}

// validateBulk is ES's request validation, which fails the whole request.
func validateBulk(ops []*writeOp) *esError {
	if len(ops) == 0 {
		return validationFailed("no requests added")
	}
	var problems []string
	for _, op := range ops {
		if op.index == "" {
			problems = append(problems, "index is missing")
		}
		if len(op.id) > 512 {
			problems = append(problems, fmt.Sprintf("id [%s] is too long, must be no longer than 512 bytes but was: %d", op.id, len(op.id)))
		}
		if op.action == "create" && op.versionType != "" && op.versionType != "internal" {
			problems = append(problems, "create operations only support internal versioning. use index instead")
		}
	}
	if len(problems) > 0 {
		return validationFailed(problems...)
	}
	return nil
}
