package ec2xml

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite shapes_gen.go from the EC2 SDK's deserializers")

const (
	ec2Module = "github.com/aws/aws-sdk-go-v2/service/ec2"
	genFile   = "shapes_gen.go"
)

// TestShapesMatchSDK reads the deserializers of the EC2 module this build uses and checks that
// shapes_gen.go describes what they read, so an SDK upgrade that adds or retypes a field fails
// here until the table is regenerated (with -update). The decoder validates every field the SDK
// parses by the same rules; a stale table would let it accept a page the SDK refuses.
func TestShapesMatchSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}@{{.Version}}\t{{.Dir}}", ec2Module).Output()
	if err != nil {
		t.Fatalf("finding %s: %v", ec2Module, err)
	}
	mod, dir, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok || dir == "" {
		t.Fatalf("finding %s: go list answered %q", ec2Module, out)
	}
	src, err := generateShapes(filepath.Join(dir, "deserializers.go"), mod)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(genFile, src, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(genFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, src) {
		t.Errorf("%s does not match the deserializers of %s; regenerate it: go test ./internal/ec2xml -run TestShapesMatchSDK -update", genFile, mod)
	}
}

// TestShapesOfTheFieldsRead checks that the fields the decoder reads itself have, in the
// SDK, the kinds it reads them as.
func TestShapesOfTheFieldsRead(t *testing.T) {
	want := []struct {
		in   shapeID
		name string
		m    member
	}{
		{shapeDescribeInstancesOutput, "nexttoken", member{kind: kString}},
		{shapeDescribeInstancesOutput, "reservationset", member{kind: kList, shape: shapeReservationList}},
		{shapeReservationList, "item", member{kind: kStruct, shape: shapeReservation}},
		{shapeReservation, "instancesset", member{kind: kList, shape: shapeInstanceList}},
		{shapeInstanceList, "item", member{kind: kStruct, shape: shapeInstance}},
		{shapeInstance, "instanceid", member{kind: kString}},
		{shapeInstance, "instancestate", member{kind: kStruct, shape: shapeInstanceState}},
		{shapeInstanceState, "name", member{kind: kString}},
		{shapeInstance, "launchtime", member{kind: kTime}},
		{shapeInstance, "placement", member{kind: kStruct, shape: shapePlacement}},
		{shapePlacement, "availabilityzone", member{kind: kString}},
		{shapeInstance, "tagset", member{kind: kList, shape: shapeTagList}},
		{shapeTagList, "item", member{kind: kStruct, shape: shapeTag}},
		{shapeTag, "key", member{kind: kString}},
		{shapeTag, "value", member{kind: kString}},
		{shapeInstance, "networkinterfaceset", member{kind: kList, shape: shapeInstanceNetworkInterfaceList}},
		{shapeInstanceNetworkInterfaceList, "item", member{kind: kStruct, shape: shapeInstanceNetworkInterface}},
		{shapeInstanceNetworkInterface, "attachment", member{kind: kStruct, shape: shapeInstanceNetworkInterfaceAttachment}},
		{shapeInstanceNetworkInterfaceAttachment, "attachtime", member{kind: kTime}},
		{shapeInstanceNetworkInterfaceAttachment, "deviceindex", member{kind: kInt}},
		{shapeInstanceNetworkInterfaceAttachment, "networkcardindex", member{kind: kInt}},
	}
	for _, w := range want {
		s := shapes[w.in]
		got, ok := s.members[w.name]
		if s.list {
			got, ok = s.item, w.name == "item"
		}
		if !ok || got != w.m {
			t.Errorf("%s.%s: the SDK reads %+v (found %t), the decoder reads %+v", s.name, w.name, got, ok, w.m)
		}
	}
}

const (
	docPrefix = "awsEc2query_deserializeDocument"
	opRoot    = "awsEc2query_deserializeOpDocumentDescribeInstancesOutput"
)

// genShape is one shape as read from a deserializer function.
type genShape struct {
	name    string
	list    bool
	members []genMember // structures: in the deserializer's order
}

type genMember struct {
	name  string // as the SDK matches it, lower-cased
	kind  string // the kind constant's name
	shape string // the deserializer function of a structure or list
}

// generateShapes reads the deserializer functions reachable from DescribeInstances' output in
// file (the SDK's deserializers.go) and renders shapes_gen.go. It refuses any pattern it does
// not know, so a change in the SDK's generated code cannot be misread silently.
func generateShapes(file, module string) ([]byte, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
			funcs[fd.Name.Name] = fd
		}
	}
	var order []string
	found := map[string]*genShape{}
	queue := []string{opRoot}
	for len(queue) > 0 {
		fn := queue[0]
		queue = queue[1:]
		if found[fn] != nil {
			continue
		}
		fd := funcs[fn]
		if fd == nil {
			return nil, fmt.Errorf("%s: no such function", fn)
		}
		s, err := readShape(fd)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		found[fn] = s
		order = append(order, fn)
		for _, m := range s.members {
			if m.shape != "" {
				queue = append(queue, m.shape)
			}
		}
	}

	constName := func(fn string) string { return "shape" + found[fn].name }
	var b bytes.Buffer
	b.WriteString("// Code generated by TestShapesMatchSDK (go test ./internal/ec2xml -run TestShapesMatchSDK -update); DO NOT EDIT.\n\n")
	b.WriteString("package ec2xml\n\n")
	b.WriteString("// sdkModule is the EC2 module whose deserializers the shapes were read from.\n")
	fmt.Fprintf(&b, "const sdkModule = %q\n\n", module)
	b.WriteString("// The shapes, by the SDK's names.\nconst (\n")
	for i, fn := range order {
		if i == 0 {
			fmt.Fprintf(&b, "%s shapeID = iota\n", constName(fn))
		} else {
			fmt.Fprintf(&b, "%s\n", constName(fn))
		}
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(&b, "// shapes are the %d structures and lists of a DescribeInstances answer, as the SDK reads them.\n", len(order))
	b.WriteString("var shapes = [...]shape{\n")
	for _, fn := range order {
		s := found[fn]
		ref := func(m genMember) string {
			if m.shape == "" {
				return fmt.Sprintf("member{kind: %s}", m.kind)
			}
			kind := "kStruct"
			if found[m.shape].list {
				kind = "kList"
			}
			return fmt.Sprintf("member{kind: %s, shape: %s}", kind, constName(m.shape))
		}
		if s.list {
			fmt.Fprintf(&b, "%s: {name: %q, list: true, item: %s},\n", constName(fn), s.name, ref(s.members[0]))
			continue
		}
		fmt.Fprintf(&b, "%s: {name: %q, members: map[string]member{\n", constName(fn), s.name)
		for _, m := range s.members {
			fmt.Fprintf(&b, "%q: %s,\n", m.name, strings.TrimPrefix(ref(m), "member"))
		}
		b.WriteString("}},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// readShape reads one deserializer: a structure's (v **T) or a list's (v *[]T), whose switch
// has one case per element name.
func readShape(fd *ast.FuncDecl) (*genShape, error) {
	s := &genShape{name: strings.TrimPrefix(strings.TrimPrefix(fd.Name.Name, docPrefix), "awsEc2query_deserializeOpDocument")}
	params := fd.Type.Params.List
	if len(params) != 2 {
		return nil, fmt.Errorf("%d parameters", len(params))
	}
	switch p := params[0].Type.(type) {
	case *ast.StarExpr:
		switch x := p.X.(type) {
		case *ast.StarExpr:
		case *ast.ArrayType:
			if x.Len != nil {
				return nil, fmt.Errorf("array parameter")
			}
			s.list = true
		default:
			return nil, fmt.Errorf("unknown parameter type %T", p.X)
		}
	default:
		return nil, fmt.Errorf("unknown parameter type %T", p)
	}
	var switches []*ast.SwitchStmt
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if sw, ok := n.(*ast.SwitchStmt); ok && sw.Tag == nil && sw.Init == nil {
			switches = append(switches, sw)
			return false
		}
		return true
	})
	if len(switches) != 1 {
		return nil, fmt.Errorf("%d tagless switches, want 1", len(switches))
	}
	seen := map[string]bool{}
	defaults := 0
	for _, st := range switches[0].Body.List {
		cc := st.(*ast.CaseClause)
		if cc.List == nil {
			if !callsSkip(cc.Body) {
				return nil, fmt.Errorf("default case does not skip")
			}
			defaults++
			continue
		}
		name, err := caseName(cc)
		if err != nil {
			return nil, err
		}
		m, err := readMember(cc.Body)
		if err != nil {
			return nil, fmt.Errorf("element %q: %w", name, err)
		}
		m.name = strings.ToLower(name)
		if seen[m.name] {
			// The first matching case would win; the table keeps one entry per name.
			return nil, fmt.Errorf("element %q matched twice", name)
		}
		seen[m.name] = true
		s.members = append(s.members, m)
	}
	if defaults != 1 {
		return nil, fmt.Errorf("%d default cases, want 1", defaults)
	}
	if s.list && (len(s.members) != 1 || s.members[0].name != "item") {
		return nil, fmt.Errorf("a list whose members are not one <item>")
	}
	return s, nil
}

// caseName returns the literal of `case strings.EqualFold("name", t.Name.Local):`.
func caseName(cc *ast.CaseClause) (string, error) {
	if len(cc.List) != 1 {
		return "", fmt.Errorf("case with %d expressions", len(cc.List))
	}
	call, ok := cc.List[0].(*ast.CallExpr)
	if !ok || callName(call) != "strings.EqualFold" || len(call.Args) != 2 {
		return "", fmt.Errorf("case is not strings.EqualFold(name, t.Name.Local)")
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING || exprString(call.Args[1]) != "t.Name.Local" {
		return "", fmt.Errorf("case is not strings.EqualFold(name, t.Name.Local)")
	}
	name, err := strconv.Unquote(lit.Value)
	if err != nil {
		return "", err
	}
	for i := range len(name) {
		if name[i] >= 0x80 {
			return "", fmt.Errorf("non-ASCII element name %q", name)
		}
	}
	return name, nil
}

// readMember reads a case's body: a text value (decoder.Value and at most one parse) or one
// call of another deserializer.
func readMember(body []ast.Stmt) (genMember, error) {
	var value bool
	var kinds, nested []string
	var err error
	for _, st := range body {
		ast.Inspect(st, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || err != nil {
				return err == nil
			}
			name := callName(call)
			switch {
			case name == "decoder.Value":
				value = true
			case strings.HasPrefix(name, docPrefix):
				if strings.HasSuffix(name, "Unwrapped") {
					err = fmt.Errorf("flattened member %s", name)
				}
				nested = append(nested, name)
			case name == "strconv.ParseInt":
				if len(call.Args) != 3 || exprString(call.Args[1]) != "10" || exprString(call.Args[2]) != "64" {
					err = fmt.Errorf("strconv.ParseInt with arguments %s", exprString(call))
				}
				kinds = append(kinds, "kInt")
			case name == "strconv.ParseBool":
				kinds = append(kinds, "kBool")
			case name == "strconv.ParseFloat":
				if len(call.Args) != 2 || exprString(call.Args[1]) != "64" {
					err = fmt.Errorf("strconv.ParseFloat with arguments %s", exprString(call))
				}
				kinds = append(kinds, "kFloat")
			case name == "smithytime.ParseDateTime":
				kinds = append(kinds, "kTime")
			case name == "string", name == "fmt.Errorf", name == "append", name == "smithyxml.WrapNodeDecoder",
				name == "int32", name == "int64", name == "float32", name == "float64",
				strings.HasPrefix(name, "ptr."), strings.HasPrefix(name, "types."):
				// Conversions and wrapping: nothing to check.
			default:
				err = fmt.Errorf("unknown call %s", exprString(call))
			}
			return true
		})
	}
	switch {
	case err != nil:
		return genMember{}, err
	case value && len(nested) == 0 && len(kinds) <= 1:
		if len(kinds) == 0 {
			return genMember{kind: "kString"}, nil
		}
		return genMember{kind: kinds[0]}, nil
	case !value && len(nested) == 1 && len(kinds) == 0:
		return genMember{shape: nested[0]}, nil
	}
	return genMember{}, fmt.Errorf("unknown body (value %t, %d parses, %d nested)", value, len(kinds), len(nested))
}

func callsSkip(body []ast.Stmt) bool {
	found := false
	for _, st := range body {
		ast.Inspect(st, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && callName(call) == "decoder.Decoder.Skip" {
				found = true
			}
			return true
		})
	}
	return found
}

func callName(call *ast.CallExpr) string { return exprString(call.Fun) }

func exprString(e ast.Expr) string {
	var b bytes.Buffer
	if err := format.Node(&b, token.NewFileSet(), e); err != nil {
		return fmt.Sprintf("<%T>", e)
	}
	return b.String()
}
