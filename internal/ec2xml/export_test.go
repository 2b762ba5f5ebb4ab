package ec2xml

import "time"

// FieldsReadPaths are the fields of a DescribeInstancesOutput that decode.go fills, by fieldsRead
// (which TestShapesOfTheFieldsRead holds to the SDK), as dotted paths of Go field names; a list's
// elements share the list's path.
func FieldsReadPaths() []string {
	var paths []string
	var walk func(shape, prefix string)
	walk = func(shape, prefix string) {
		for _, r := range fieldsRead {
			switch {
			case r.shape != shape:
			case r.field == "": // a list's <item>
				walk(r.nested, prefix)
			default:
				paths = append(paths, prefix+r.field)
				if r.nested != "" {
					walk(r.nested, prefix+r.field+".")
				}
			}
		}
	}
	walk("DescribeInstancesOutput", "")
	return paths
}

// SetTurnWait sets how long d's answers wait for a turn.
func SetTurnWait(d *Decoder, wait time.Duration) { d.turnWait = wait }
