// Package ec2xml decodes EC2 DescribeInstances answers about ten times faster than the AWS SDK,
// reading only what awsaudit reads, and leaves every answer it is not sure of to the SDK.
//
// A sweep spends nearly all its CPU in the SDK's XML decoding (encoding/xml tokenizing every
// element of pages of about 9 KB per instance). Decode is a byte-level scanner over the same
// bytes that fills, of *ec2.DescribeInstancesOutput, only NextToken and the reservations'
// instances with InstanceId, State.Name, Placement.AvailabilityZone, LaunchTime, Tags and
// NetworkInterfaces[].Attachment.{AttachTime, DeviceIndex, NetworkCardIndex}: what
// enforcer.FromEC2 and the paginators read. A field read anywhere else must be added here first
// (the tests compare FromEC2's result on both decoders, so a new read shows there).
//
// # Never different from the SDK
//
// awsaudit stops and terminates what the listing says, so Decode promises: when it returns a
// result, the SDK's deserializer would have returned the same values for those fields, and would
// not have failed. It reads the SDK's own rules, not XML's in general:
//
//   - Element names match case-insensitively (the SDK's strings.EqualFold); a member met again
//     replaces a value, merges into a structure and appends to a list, as the SDK's do; an empty
//     element (<value/> or <value></value>) is an empty string, a list element present but empty
//     an empty slice.
//   - Every member the SDK parses is checked as the SDK parses it — integers, booleans, numbers
//     and timestamps with the same functions, simple values holding no elements — even those
//     Decode drops, so a value the SDK would refuse is refused here too. shapes_gen.go lists
//     them, with the field each fills, generated from the SDK's deserializers by
//     TestShapesMatchSDK, which fails when the SDK in go.mod, smithy-go or Go's encoding/xml
//     changes (regenerate: go test ./internal/ec2xml -run TestShapesMatchSDK -update). The
//     generator knows the deserializers' code line by line and refuses any other (a value
//     trimmed, a list replaced rather than appended to), and TestShapesOfTheFieldsRead fails
//     when a field Decode fills is filled from a second element too.
//   - Other elements, at any depth, are skipped whole, checked to be well formed.
//
// It accepts a strict subset of what encoding/xml does: UTF-8 of XML characters with no carriage
// returns and no control characters but tab and newline; an optional UTF-8 XML declaration at the
// start; the root <DescribeInstancesResponse>; ASCII element names without namespace prefixes;
// quoted attributes without entities; comments between elements; text with XML's five entities
// and character references; nesting up to 64 deep. Anything else — CDATA, DOCTYPE, processing
// instructions, text among elements, content after the root, a truncated body — is an error.
//
// # Plugging in
//
// A Decoder's Use installs it in an EC2 client as the DescribeInstances deserializer. A 2xx answer
// of up to 256 MB is read whole and decoded; any other answer, an answer whose body breaks off,
// and any body Decode refuses (or panics on) go to the SDK's own deserializer, with the body
// replayed from memory: errors, request ids and retries stay the SDK's, and the output is never
// worse than the SDK's. A larger answer is read no further than that before it goes to the SDK,
// which reads what was read, then the rest. A Decoder holds at most two answers whole at once,
// so memory does not grow with the regions listed at once; an answer that finds no turn within a
// second (the two held are slow or stalled) goes to the SDK's deserializer, which streams it, so
// a slow region never holds up another's listing.
// The SDK's deserialization-duration metric is not recorded for the answers Decode reads
// (awsaudit configures no meter).
package ec2xml
