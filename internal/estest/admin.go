package estest

import (
	"net/http"
	"strings"
)

func (s *Server) rootInfo(req *request) reply {
	if req.method == http.MethodHead {
		return reply{status: http.StatusOK}
	}
	return reply{status: http.StatusOK, body: obj{
		{"name", "estest-node-1"},
		{"cluster_name", s.opts.ClusterName},
		{"cluster_uuid", s.clusterUUID},
		{"version", obj{
			{"number", s.opts.Version},
			{"build_flavor", "default"},
			{"build_type", "estest"},
			{"build_hash", "0000000000000000000000000000000000000000"},
			{"build_date", "2025-01-01T00:00:00.000000000Z"},
			{"build_snapshot", false},
			{"lucene_version", "9.12.2"},
			{"minimum_wire_compatibility_version", "7.17.0"},
			{"minimum_index_compatibility_version", "7.0.0"},
		}},
		{"tagline", "You Know, for Search"},
	}}
}

func (s *Server) clusterHealth(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	indices := make([]*index, 0, len(s.indices))
	if expr := req.vars["index"]; expr != "" {
		found, e := s.resolveIndices(expr)
		if e != nil {
			return errReply(e)
		}
		indices = found
	} else {
		for _, idx := range s.indices {
			indices = append(indices, idx)
		}
	}
	// A single node cannot place replicas: any index that wants one is
	// yellow, exactly as on a one-node ES cluster.
	status, shards, unassigned := "green", 0, 0
	for _, idx := range indices {
		shards += idx.settings.shards
		if idx.settings.replicas > 0 {
			status = "yellow"
			unassigned += idx.settings.shards * idx.settings.replicas
		}
	}
	timedOut := false
	httpStatus := http.StatusOK
	if want := req.query.Get("wait_for_status"); want != "" && healthRank(status) < healthRank(want) {
		timedOut, httpStatus = true, http.StatusRequestTimeout
	}
	return reply{status: httpStatus, body: obj{
		{"cluster_name", s.opts.ClusterName},
		{"status", status},
		{"timed_out", timedOut},
		{"number_of_nodes", 1},
		{"number_of_data_nodes", 1},
		{"active_primary_shards", shards},
		{"active_shards", shards},
		{"relocating_shards", 0},
		{"initializing_shards", 0},
		{"unassigned_shards", unassigned},
		{"unassigned_primary_shards", 0},
		{"delayed_unassigned_shards", 0},
		{"number_of_pending_tasks", 0},
		{"number_of_in_flight_fetch", 0},
		{"task_max_waiting_in_queue_millis", 0},
		{"active_shards_percent_as_number", percent(shards, shards+unassigned)},
	}}
}

func healthRank(s string) int {
	switch s {
	case "green":
		return 2
	case "yellow":
		return 1
	}
	return 0
}

func percent(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return float64(a) * 100 / float64(b)
}

// putIndex is explicit index creation: PUT /{index} with optional
// settings and mappings, merged over a matching template.
func (s *Server) putIndex(req *request) reply {
	name := req.vars["index"]
	var settings, mappings map[string]any
	if len(req.body) > 0 {
		tree, e := parseBody(req.body)
		if e != nil {
			return errReply(e)
		}
		if tree.kind != jObject {
			return errReply(newError(http.StatusBadRequest, "parse_exception", "Failed to derive xcontent"))
		}
		raw := tree.value().(map[string]any)
		for k, v := range raw {
			switch k {
			case "settings":
				settings, _ = v.(map[string]any)
			case "mappings":
				mappings, _ = v.(map[string]any)
			case "aliases":
				if m, _ := v.(map[string]any); len(m) > 0 {
					return errReply(illegalArgument("estest does not model aliases: PUT /%s sets [aliases]", name))
				}
			default:
				return errReply(newError(http.StatusBadRequest, "parse_exception", "unknown key [%s] for create index", k))
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := s.indices[name]; idx != nil {
		e := newError(http.StatusBadRequest, "resource_already_exists_exception", "index [%s/%s] already exists", name, idx.uuid)
		e.extra = obj{{"index_uuid", idx.uuid}, {"index", name}}
		return errReply(e)
	}
	if _, e := s.createIndex(name, settings, mappings); e != nil {
		return errReply(e)
	}
	return reply{status: http.StatusOK, body: obj{{"acknowledged", true}, {"shards_acknowledged", true}, {"index", name}}}
}

func (s *Server) getIndex(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	indices, e := s.resolveIndices(req.vars["index"])
	if e != nil {
		return errReply(e)
	}
	out := obj{}
	for _, idx := range indices {
		out = append(out, kv{idx.name, obj{
			{"aliases", obj{}},
			{"mappings", idx.mapping.render()},
			{"settings", sortedObj(nestSettings(idx.settings.flat))},
		}})
	}
	return reply{status: http.StatusOK, body: out}
}

func (s *Server) headIndex(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.resolveIndices(req.vars["index"]); e != nil {
		return reply{status: http.StatusNotFound}
	}
	return reply{status: http.StatusOK}
}

func (s *Server) deleteIndex(req *request) reply {
	expr := req.vars["index"]
	// ES 8 sets action.destructive_requires_name to true by default.
	if strings.Contains(expr, "*") || expr == "_all" {
		return errReply(illegalArgument("Wildcard expressions or all indices are not allowed"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	indices, e := s.resolveIndices(expr)
	if e != nil {
		return errReply(e)
	}
	for _, idx := range indices {
		delete(s.indices, idx.name)
	}
	return reply{status: http.StatusOK, body: obj{{"acknowledged", true}}}
}

func (s *Server) getMapping(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	expr := req.vars["index"]
	if expr == "" {
		expr = "*"
	}
	indices, e := s.resolveIndices(expr)
	if e != nil {
		return errReply(e)
	}
	out := obj{}
	for _, idx := range indices {
		out = append(out, kv{idx.name, obj{{"mappings", idx.mapping.render()}}})
	}
	return reply{status: http.StatusOK, body: out}
}

// putMapping adds fields to existing indices' mappings. As in ES, new
// fields and objects may be added, but a field cannot change type.
func (s *Server) putMapping(req *request) reply {
	tree, e := parseBody(req.body)
	if e != nil {
		return errReply(e)
	}
	if tree.kind != jObject {
		return errReply(newError(http.StatusBadRequest, "parse_exception", "Failed to derive xcontent"))
	}
	update, e := parseMapping(tree.value().(map[string]any))
	if e != nil {
		return errReply(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	indices, e := s.resolveIndices(req.vars["index"])
	if e != nil {
		return errReply(e)
	}
	for _, idx := range indices {
		if e := checkMerge(idx.mapping.root, update.root); e != nil {
			return errReply(e)
		}
	}
	for _, idx := range indices {
		mergeFields(idx.mapping.root, update.root)
		if raw := tree.value().(map[string]any); raw["dynamic"] != nil {
			idx.mapping.root.dynamic = update.root.dynamic
		}
		if _, ok := tree.value().(map[string]any)["dynamic_templates"]; ok {
			idx.mapping.dynamicTemplates = update.dynamicTemplates
		}
	}
	return reply{status: http.StatusOK, body: obj{{"acknowledged", true}}}
}

// checkMerge finds the first field of src whose type conflicts with dst.
func checkMerge(dst, src *field) *esError {
	for name, sf := range src.props {
		df := dst.props[name]
		switch {
		case df == nil:
		case df.isObject() != sf.isObject():
			return illegalArgument("can't merge a non object mapping [%s] with an object mapping", df.path)
		case df.typ != sf.typ:
			return illegalArgument("mapper [%s] cannot be changed from type [%s] to [%s]", df.path, df.typ, sf.typ)
		case df.isObject():
			if e := checkMerge(df, sf); e != nil {
				return e
			}
		}
	}
	return nil
}

// mergeFields applies a checked update: new fields are added, existing
// leaves take the new parameters.
func mergeFields(dst, src *field) {
	for name, sf := range src.props {
		df := dst.props[name]
		switch {
		case df == nil || !df.isObject():
			dst.props[name] = sf
		default:
			if sf.dynamic != "" {
				df.dynamic = sf.dynamic
			}
			if df.params == nil {
				df.params = map[string]any{}
			}
			for k, v := range sf.params {
				df.params[k] = v
			}
			mergeFields(df, sf)
		}
	}
}

// refresh makes what was written to the indices searchable, as ES's
// _refresh does.
func (s *Server) refresh(req *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	expr := req.vars["index"]
	if expr == "" {
		expr = "*"
	}
	indices, e := s.resolveIndices(expr)
	if e != nil {
		return errReply(e)
	}
	for _, idx := range indices {
		idx.refresh()
	}
	total, ok := 0, 0
	for _, idx := range indices {
		total += idx.settings.shards * (1 + idx.settings.replicas)
		ok += idx.settings.shards
	}
	return reply{status: http.StatusOK, body: obj{{"_shards", obj{{"total", total}, {"successful", ok}, {"failed", 0}}}}}
}
