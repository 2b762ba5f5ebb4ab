package ec2xml

// kind is how the SDK's deserializer reads an element: a text value parsed one way, or a
// structure or list of further elements.
type kind uint8

const (
	kString kind = iota + 1 // text, kept as it is (strings and enums)
	kInt                    // strconv.ParseInt(text, 10, 64)
	kBool                   // strconv.ParseBool(text)
	kFloat                  // strconv.ParseFloat(text, 64)
	kTime                   // smithytime.ParseDateTime(text)
	kStruct                 // child elements by name; unknown ones skipped
	kList                   // <item> children; other children skipped
)

// shapeID indexes shapes.
type shapeID uint16

// member is one element the SDK knows inside a structure, or the <item> of a list.
type member struct {
	kind  kind
	shape shapeID // for kStruct and kList
	// field is the Go field the SDK fills from the element ("" for an <item>), by which the tests
	// check that each field Decode fills comes from one element only.
	field string
}

// shape is one structure or list of the DescribeInstances answer as the SDK's deserializer
// reads it: members by lower-case element name (the SDK matches names with strings.EqualFold)
// for a structure, item for a list.
type shape struct {
	name    string
	members map[string]member
	item    member
	list    bool
}
