package estest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// writeOp is one index, create or delete, from _bulk or a document API.
type writeOp struct {
	action       string // "index", "create" or "delete"
	index        string
	id           string
	hasID        bool
	source       []byte
	pipeline     string
	requireAlias bool
	ifSeqNo      *int64
	ifPrimary    *int64
	version      *int64
	versionType  string
	// rejected is the Rejecter's verdict, decided before the lock is taken.
	rejected *esError
}

// writeResult is the outcome of one writeOp.
type writeResult struct {
	index   string
	shards  obj
	id      string
	hasID   bool
	result  string
	status  int
	version int64
	seqNo   int64
	err     *esError
}

// item renders the result as a _bulk item (and, mostly, as a document API
// response).
func (r writeResult) item(forcedRefresh bool) obj {
	var id any = r.id
	if !r.hasID {
		id = nil
	}
	o := obj{{"_index", r.index}, {"_id", id}}
	if r.err != nil {
		return append(o, kv{"status", r.status}, kv{"error", r.err.body(true)})
	}
	o = append(o, kv{"_version", r.version}, kv{"result", r.result})
	if forcedRefresh {
		o = append(o, kv{"forced_refresh", true})
	}
	o = append(o, kv{"_shards", r.shards}, kv{"_seq_no", r.seqNo}, kv{"_primary_term", 1})
	return o
}

func versionConflict(idx *index, id, format string, args ...any) *esError {
	e := newError(http.StatusConflict, "version_conflict_engine_exception", "[%s]: version conflict, "+format, append([]any{id}, args...)...)
	e.extra = obj{{"index_uuid", idx.uuid}, {"shard", "0"}, {"index", idx.name}}
	return e
}

// applyWrite performs op. The caller holds mu. The order of checks follows
// ES: pipeline and index resolution on the coordinating node, then the
// document is parsed, then the version check in the engine.
func (s *Server) applyWrite(op *writeOp) writeResult {
	res := writeResult{index: op.index, id: op.id, hasID: op.hasID}
	fail := func(e *esError) writeResult {
		res.err, res.status = e, e.status
		return res
	}
	if op.pipeline != "" && op.pipeline != "_none" {
		return fail(illegalArgument("pipeline with id [%s] does not exist", op.pipeline))
	}
	idx := s.indices[op.index]
	if idx == nil {
		switch {
		case op.action == "delete":
			return fail(indexNotFound(op.index))
		case op.requireAlias:
			e := indexNotFound(op.index)
			e.reason = "no such index [" + op.index + "] and [require_alias] request flag is [true] and [" + op.index + "] is not an alias"
			return fail(e)
		}
		created, e := s.createIndex(op.index, nil, nil)
		if e != nil {
			return fail(e)
		}
		idx = created
	}
	res.shards = idx.shardsHeader()
	if op.hasID && op.id == "" {
		return fail(illegalArgument("if _id is specified it must not be empty"))
	}
	if !op.hasID {
		op.id, op.hasID = randomID(20), true
		res.id, res.hasID = op.id, true
	}
	if op.rejected != nil {
		return fail(op.rejected)
	}
	existing := idx.docs[op.id]

	if op.action == "delete" {
		if e := checkVersion(idx, op, existing); e != nil {
			return fail(e)
		}
		if existing == nil {
			res.result, res.status = "not_found", http.StatusNotFound
			res.version = idx.tombstones[op.id] + 1
			res.seqNo = idx.nextSeqNo
			idx.nextSeqNo++
			return res
		}
		delete(idx.docs, op.id)
		idx.tombstones[op.id] = existing.version + 1
		res.result, res.status = "deleted", http.StatusOK
		res.version, res.seqNo = existing.version+1, idx.nextSeqNo
		idx.nextSeqNo++
		return res
	}

	tree, parser, e := parseDocument(idx.mapping, idx.settings, op.id, op.source)
	if e != nil {
		return fail(e)
	}
	if op.action == "create" && existing != nil {
		return fail(versionConflict(idx, op.id, "document already exists (current version [%d])", existing.version))
	}
	if e := checkVersion(idx, op, existing); e != nil {
		return fail(e)
	}
	parser.commit()
	d := &storedDoc{id: op.id, source: append([]byte(nil), op.source...), parsed: tree.value(), seqNo: idx.nextSeqNo}
	idx.nextSeqNo++
	switch {
	case op.versionType == "external" || op.versionType == "external_gte":
		d.version = *op.version
	case existing != nil:
		d.version = existing.version + 1
	default:
		d.version = idx.tombstones[op.id] + 1
	}
	delete(idx.tombstones, op.id)
	idx.docs[op.id] = d
	res.version, res.seqNo = d.version, d.seqNo
	if existing != nil {
		res.result, res.status = "updated", http.StatusOK
	} else {
		res.result, res.status = "created", http.StatusCreated
	}
	return res
}

// checkVersion applies optimistic concurrency control (if_seq_no and
// if_primary_term) and external versioning.
func checkVersion(idx *index, op *writeOp, existing *storedDoc) *esError {
	if op.ifSeqNo != nil {
		term := int64(0)
		if op.ifPrimary != nil {
			term = *op.ifPrimary
		}
		if existing == nil {
			return versionConflict(idx, op.id, "required seqNo [%d], primary term [%d]. but no document was found", *op.ifSeqNo, term)
		}
		if existing.seqNo != *op.ifSeqNo || term != 1 {
			return versionConflict(idx, op.id, "required seqNo [%d], primary term [%d]. current document has seqNo [%d] and primary term [1]", *op.ifSeqNo, term, existing.seqNo)
		}
	}
	if op.versionType == "external" || op.versionType == "external_gte" {
		if op.version == nil {
			return validationFailed("illegal version value [-3] for version type [" + op.versionType + "]")
		}
		if existing != nil {
			v := *op.version
			if (op.versionType == "external" && v <= existing.version) || (op.versionType == "external_gte" && v < existing.version) {
				return versionConflict(idx, op.id, "current version [%d] is higher or equal to the one provided [%d]", existing.version, v)
			}
		}
	}
	return nil
}

// writeOpFromQuery builds a document-API writeOp from the URL.
func writeOpFromQuery(req *request, action string) (*writeOp, *esError) {
	op := &writeOp{action: action, index: req.vars["index"], pipeline: req.query.Get("pipeline"), source: req.body}
	if id, ok := req.vars["id"]; ok {
		op.id, op.hasID = id, true
	}
	if t := req.query.Get("op_type"); t != "" {
		switch t {
		case "create":
			op.action = "create"
		case "index":
		default:
			return nil, illegalArgument("opType must be 'create' or 'index', found: [%s]", t)
		}
	}
	op.requireAlias = req.query.Get("require_alias") == "true"
	for name, dst := range map[string]**int64{"if_seq_no": &op.ifSeqNo, "if_primary_term": &op.ifPrimary, "version": &op.version} {
		if v := req.query.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, illegalArgument("Failed to parse long parameter [%s] with value [%s]", name, v)
			}
			*dst = &n
		}
	}
	op.versionType = req.query.Get("version_type")
	return op, nil
}

func (s *Server) indexDoc(req *request) reply  { return s.writeDoc(req, "index") }
func (s *Server) createDoc(req *request) reply { return s.writeDoc(req, "create") }

func (s *Server) writeDoc(req *request, action string) reply {
	op, e := writeOpFromQuery(req, action)
	if e != nil {
		return errReply(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.applyWrite(op)
	s.refreshWritten(req, op.index)
	if res.err != nil {
		return errReply(res.err)
	}
	return reply{status: res.status, body: res.item(forcedRefresh(req))}
}

// forcedRefresh reports whether the request asked for refresh=true (or a
// bare "refresh"), which ES acknowledges with "forced_refresh" in results.
func forcedRefresh(req *request) bool {
	v, ok := req.query["refresh"]
	return ok && (v[0] == "" || v[0] == "true")
}

// refreshesOnWrite reports whether a write request returns only once its
// changes are searchable: refresh=true (or bare) and refresh=wait_for.
func refreshesOnWrite(req *request) bool {
	v, ok := req.query["refresh"]
	return ok && (v[0] == "" || v[0] == "true" || v[0] == "wait_for")
}

// refreshWritten refreshes the index a write went to when the request
// asked for it. The caller holds mu.
func (s *Server) refreshWritten(req *request, index string) {
	if idx := s.indices[index]; idx != nil && refreshesOnWrite(req) {
		idx.refresh()
	}
}

func rawJSON(b []byte) json.RawMessage { return json.RawMessage(b) }

func (s *Server) deleteDoc(req *request) reply {
	op, e := writeOpFromQuery(req, "delete")
	if e != nil {
		return errReply(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.applyWrite(op)
	s.refreshWritten(req, op.index)
	if res.err != nil {
		return errReply(res.err)
	}
	return reply{status: res.status, body: res.item(forcedRefresh(req))}
}

// getDoc is realtime, as in ES: it sees writes not yet refreshed.
func (s *Server) getDoc(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, id := req.vars["index"], req.vars["id"]
	idx := s.indices[name]
	if idx == nil {
		if req.method == http.MethodHead {
			return reply{status: http.StatusNotFound}
		}
		return errReply(indexNotFound(name))
	}
	d := idx.docs[id]
	if req.method == http.MethodHead {
		if d == nil {
			return reply{status: http.StatusNotFound}
		}
		return reply{status: http.StatusOK}
	}
	if d == nil {
		return reply{status: http.StatusNotFound, body: obj{{"_index", name}, {"_id", id}, {"found", false}}}
	}
	return reply{status: http.StatusOK, body: obj{
		{"_index", name}, {"_id", id}, {"_version", d.version}, {"_seq_no", d.seqNo},
		{"_primary_term", 1}, {"found", true}, {"_source", rawJSON(d.source)},
	}}
}
