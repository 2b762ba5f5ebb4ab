package ec2xml_test

import "strings"

// decl and the page helpers build DescribeInstances answers as EC2 indents them.
const decl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func page(reservations ...string) string {
	return decl + `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <reservationSet>` + strings.Join(reservations, "") + `
    </reservationSet>
</DescribeInstancesResponse>
`
}

func reservation(instances ...string) string {
	return `
        <item>
            <reservationId>r-0a1b2c3d4e5f60718</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>` + strings.Join(instances, "") + `
            </instancesSet>
        </item>`
}

// instance is an instance as EC2 answers it, with tags and interfaces given; the rest, every
// kind of field EC2 sends, held constant.
func instance(id, state, tags, interfaces string) string {
	return `
                <item>
                    <instanceId>` + id + `</instanceId>
                    <imageId>ami-0abcdef1234567890</imageId>
                    <instanceState>
                        <code>16</code>
                        <name>` + state + `</name>
                    </instanceState>
                    <privateDnsName>ip-10-0-0-12.ec2.internal</privateDnsName>
                    <dnsName/>
                    <reason/>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>t3.micro</instanceType>
                    <launchTime>2026-03-04T05:06:07.000Z</launchTime>
                    <placement>
                        <availabilityZoneId>use1-az4</availabilityZoneId>
                        <availabilityZone>us-east-1a</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <monitoring>
                        <state>disabled</state>
                    </monitoring>
                    <subnetId>subnet-0123456789abcdef0</subnetId>
                    <groupSet>
                        <item>
                            <groupId>sg-0123456789abcdef0</groupId>
                            <groupName>default</groupName>
                        </item>
                    </groupSet>
                    <blockDeviceMapping>
                        <item>
                            <deviceName>/dev/xvda</deviceName>
                            <ebs>
                                <volumeId>vol-0123456789abcdef0</volumeId>
                                <status>attached</status>
                                <attachTime>2026-03-04T05:06:08.000Z</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </ebs>
                        </item>
                    </blockDeviceMapping>
                    <tagSet>` + tags + `
                    </tagSet>
                    <networkInterfaceSet>` + interfaces + `
                    </networkInterfaceSet>
                    <ebsOptimized>false</ebsOptimized>
                    <cpuOptions>
                        <coreCount>1</coreCount>
                        <threadsPerCore>2</threadsPerCore>
                    </cpuOptions>
                    <usageOperationUpdateTime>2026-03-04T05:06:07.000Z</usageOperationUpdateTime>
                </item>`
}

func tag(key, value string) string {
	return `
                        <item>
                            <key>` + key + `</key>
                            <value>` + value + `</value>
                        </item>`
}

func eni(device, card, attached string) string {
	return `
                        <item>
                            <networkInterfaceId>eni-0123456789abcdef0</networkInterfaceId>
                            <groupSet>
                                <item>
                                    <groupId>sg-0123456789abcdef0</groupId>
                                    <groupName>default</groupName>
                                </item>
                            </groupSet>
                            <attachment>
                                <attachmentId>eni-attach-0123456789abcdef0</attachmentId>
                                <deviceIndex>` + device + `</deviceIndex>
                                <status>attached</status>
                                <attachTime>` + attached + `</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                                <networkCardIndex>` + card + `</networkCardIndex>
                            </attachment>
                            <privateIpAddressesSet>
                                <item>
                                    <privateIpAddress>10.0.0.12</privateIpAddress>
                                    <primary>true</primary>
                                </item>
                            </privateIpAddressesSet>
                            <ipv6AddressesSet/>
                        </item>`
}

var (
	stdTags = tag("created_by", "alice") + tag("department", "sysops") + tag("project", "checkout")
	stdENI  = eni("0", "0", "2026-03-04T05:06:07.000Z")
	stdPage = page(reservation(instance("i-0123456789abcdef0", "running", stdTags, stdENI)))
)

// decodeCase is an answer and whether Decode must take it (fast) or leave it to the SDK.
type decodeCase struct {
	name string
	body string
	fast bool
}

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("case built on a missing string: " + old)
	}
	return strings.Replace(s, old, new, 1)
}

// compact drops the indentation, as moto answers.
func compact(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString(strings.TrimSpace(line))
	}
	return b.String()
}

var decodeCases = []decodeCase{
	{"EC2 page", stdPage, true},
	{"compact page", compact(stdPage), true},
	{"no declaration", strings.TrimPrefix(stdPage, decl), true},
	{"lower-case utf-8 declaration", replace(stdPage, `encoding="UTF-8"`, `encoding="utf-8"`), true},
	{"next token", replace(stdPage, "    </reservationSet>\n", "    </reservationSet>\n    <nextToken>eyJ2IjoiMiJ9&amp;x</nextToken>\n"), true},
	{"empty next token", replace(stdPage, "    </reservationSet>\n", "    </reservationSet>\n    <nextToken/>\n"), true},
	{"no reservations", page(), true},
	{"self-closing reservation set", replace(page(), "<reservationSet>\n    </reservationSet>", "<reservationSet/>"), true},
	{"self-closing root", decl + `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"/>`, true},
	{"no reservation set", replace(page(), "<reservationSet>\n    </reservationSet>", ""), true},
	{"empty instances set", page(reservation()), true},
	{"self-closing sets", page(reservation(instance("i-1", "stopped", "", ""))), true},
	{"tag and interface sets self-closing", page(reservation(replace(replace(instance("i-1", "running", "", ""),
		"<tagSet>\n                    </tagSet>", "<tagSet/>"), "<networkInterfaceSet>\n                    </networkInterfaceSet>", "<networkInterfaceSet/>"))), true},
	{"tag and interface sets absent", page(reservation(replace(replace(instance("i-1", "running", "", ""),
		"<tagSet>\n                    </tagSet>", ""), "<networkInterfaceSet>\n                    </networkInterfaceSet>", ""))), true},
	{"several reservations and instances", page(
		reservation(instance("i-1", "running", stdTags, stdENI), instance("i-2", "stopped", tag("Name", "b"), stdENI)),
		reservation(instance("i-3", "pending", "", stdENI)),
		reservation(instance("i-4", "stopping", stdTags+tag("Name", "d"), stdENI))), true},
	{"entities", page(reservation(instance("i-1", "running",
		tag("a&amp;b", "&lt;x&gt; &quot;q&quot; &apos;s&apos;")+tag("&#38;&#x26;", "&#233;&#xE9;&#x1F600;&#10;&#9;&#xD;end"), stdENI))), true},
	{"unicode", page(reservation(instance("i-1", "running", tag("Ünïcödé", "日本語 😀 é ±")+tag("emoji😀", "\u00a0nbsp"), stdENI))), true},
	{"empty values", page(reservation(instance("i-1", "running",
		tag("created_by", "")+replace(tag("department", "x"), "<value>x</value>", "<value/>")+replace(tag("project", "x"), "<value>x</value>", "")+
			tag("blank", "   ")+tag("", "no key"), stdENI))), true},
	{"space in end tags", replace(stdPage, "</instanceId>", "</instanceId \n\t>"), true},
	{"comments", replace(replace(replace(replace(stdPage, "<tagSet>", "<tagSet><!-- tags -->"), "<instanceState>", "<!-- a - b --><instanceState>"),
		decl, decl+"<!-- before -->"), "</DescribeInstancesResponse>\n", "</DescribeInstancesResponse>\n<!---->\n"), true},
	{"attributes", replace(replace(stdPage, "<tagSet>", `<tagSet xmlns:x="urn:x" x:a = 'b' c="d">`), "<instanceState>", `<instanceState a="1"/><instanceState>`), true},
	{"interfaces", page(reservation(instance("i-1", "running", stdTags,
		eni("1", "0", "2026-03-04T05:06:09.000Z")+eni("0", "1", "2026-03-04T05:06:10.000Z")+eni("0", "0", "2026-03-04T05:06:11Z")+eni("2", "1", "2026-03-04T05:06:12.5Z")))), true},
	{"attachment without indices", page(reservation(instance("i-1", "running", stdTags, replace(replace(stdENI,
		"<deviceIndex>0</deviceIndex>", ""), "<networkCardIndex>0</networkCardIndex>", "")))), true},
	{"interface without attachment", page(reservation(instance("i-1", "running", stdTags, `<item><networkInterfaceId>eni-1</networkInterfaceId></item><item/>`))), true},
	{"self-closing attachment", page(reservation(instance("i-1", "running", stdTags, `<item><attachment/></item>`))), true},
	{"indices as the SDK parses them", page(reservation(instance("i-1", "running", stdTags,
		eni("+0", "00", "2026-03-04T05:06:07Z")+eni("4294967296", "-1", "2026-03-04T05:06:07+02:00")))), true},
	{"times as the SDK parses them", replace(stdPage, "<launchTime>2026-03-04T05:06:07.000Z</launchTime>", "<launchTime>2026-03-04T05:06:07.123456789-07:00</launchTime>"), true},
	{"names in other cases", replace(replace(replace(replace(stdPage, "<instanceId>i-0123456789abcdef0</instanceId>", "<InstanceID>i-X</InstanceID>"),
		"<tagSet>", "<TAGSET>"), "</tagSet>", "</TAGSET>"), "<key>project</key>", "<Key>project</Key>"), true},
	{"repeated members", replace(replace(replace(stdPage,
		"<imageId>", "<instanceId>i-first</instanceId><tagSet>"+tag("early", "1")+"</tagSet><instanceState><name>pending</name><code>0</code></instanceState><placement><groupName/></placement><imageId>"),
		"<value>alice</value>", "<value>alice</value><value>bob</value><key>created_by2</key>"),
		"<deviceIndex>0</deviceIndex>", "<deviceIndex>3</deviceIndex><deviceIndex>0</deviceIndex>"), true},
	// The SDK merges a structure met again into the first: what the second lacks stays the first's.
	{"instance state met again without a name", replace(stdPage, "</instanceState>", "</instanceState><instanceState><code>80</code></instanceState>"), true},
	{"placement met again without a zone", replace(stdPage, "</placement>", "</placement><placement><tenancy>x</tenancy></placement>"), true},
	{"attachment met again without a time or indices", replace(stdPage, "</attachment>", "</attachment><attachment><status>x</status></attachment>"), true},
	{"repeated reservation sets", replace(stdPage, "    </reservationSet>\n", "    </reservationSet>\n    <reservationSet>"+reservation(instance("i-2", "running", "", ""))+"</reservationSet>\n"), true},
	{"unknown elements alike known ones", replace(replace(stdPage,
		"<imageId>", `<unknownSet><item><instanceId>i-evil</instanceId><tagSet><item><key>created_by</key><value>mallory</value></item></tagSet>
		<instanceState><name>terminated</name></instanceState></item></unknownSet><elasticGpuAssociationSet><item><elasticGpuId>x</elasticGpuId><key>k</key></item></elasticGpuAssociationSet><imageId>`),
		"<reservationId>", "<instancesSetExtra><item><instanceId>i-evil2</instanceId></item></instancesSetExtra><reservationId>"), true},
	{"unknown elements in lists", replace(replace(stdPage, "<tagSet>", "<tagSet><member><key>k</key></member>"), "<instancesSet>", "<instancesSet><entry><instanceId>i-evil</instanceId></entry>"), true},
	{"text-free unknown element deep", replace(stdPage, "<imageId>", "<a><b><c><d><e><f><g/></f></e></d></c></b></a><imageId>"), true},
	{"comment in skipped content", replace(stdPage, "<imageId>", "<unknownX><!-- c --><a>x<!----></a></unknownX><imageId>"), true},
	{"stopped with reason", replace(stdPage, "<subnetId>", "<stateReason><code>Client.UserInitiatedShutdown</code><message>Client.UserInitiatedShutdown: User initiated shutdown</message></stateReason><subnetId>"), true},
	{"booleans as the SDK parses them", replace(stdPage, "<ebsOptimized>false</ebsOptimized>", "<ebsOptimized>T</ebsOptimized><sourceDestCheck>1</sourceDestCheck>"), true},
	{"missing fields", page(reservation(`<item><instanceId>i-bare</instanceId></item>`, `<item/>`)), true},

	// Left to the SDK.
	{"CDATA", replace(stdPage, "<value>alice</value>", "<value><![CDATA[alice]]></value>"), false},
	{"carriage returns", strings.ReplaceAll(stdPage, "\n", "\r\n"), false},
	{"byte order mark", "\ufeff" + stdPage, false},
	{"DOCTYPE", replace(stdPage, decl, decl+"<!DOCTYPE x>"), false},
	{"processing instruction", replace(stdPage, "<tagSet>", "<tagSet><?pi x?>"), false},
	{"other declaration", replace(stdPage, `encoding="UTF-8"`, `encoding="ISO-8859-1"`), false},
	{"text among elements", replace(stdPage, "<tagSet>", "<tagSet>text"), false},
	{"text in a structure", replace(stdPage, "<placement>", "<placement>x"), false},
	{"namespace prefix", replace(replace(stdPage, "<instanceId>", "<ec2:instanceId>"), "</instanceId>", "</ec2:instanceId>"), false},
	{"other root", replace(replace(stdPage, "<DescribeInstancesResponse", "<Response"), "</DescribeInstancesResponse>", "</Response>"), false},
	{"truncated", stdPage[:len(stdPage)/2], false},
	{"content after the root", stdPage + "<x/>", false},
	{"text after the root", stdPage + "x", false},
	{"empty body", "", false},
	{"blank body", "  \n", false},
	{"unknown entity", replace(stdPage, "<value>alice</value>", "<value>&nbsp;</value>"), false},
	{"entity without semicolon", replace(stdPage, "<value>alice</value>", "<value>&amp</value>"), false},
	{"bare ampersand", replace(stdPage, "<value>alice</value>", "<value>a & b</value>"), false},
	{"reference to NUL", replace(stdPage, "<value>alice</value>", "<value>&#0;</value>"), false},
	{"reference to a surrogate", replace(stdPage, "<value>alice</value>", "<value>&#xD800;</value>"), false},
	{"reference beyond Unicode", replace(stdPage, "<value>alice</value>", "<value>&#x110000;</value>"), false},
	{"upper-case X in a reference", replace(stdPage, "<value>alice</value>", "<value>&#X26;</value>"), false},
	{"empty reference", replace(stdPage, "<value>alice</value>", "<value>&#;</value>"), false},
	{"invalid UTF-8", replace(stdPage, "<value>alice</value>", "<value>\xff</value>"), false},
	{"control character", replace(stdPage, "<value>alice</value>", "<value>\x01</value>"), false},
	{"U+FFFE", replace(stdPage, "<value>alice</value>", "<value>\uFFFE</value>"), false},
	{"]]> in text", replace(stdPage, "<value>alice</value>", "<value>a]]>b</value>"), false},
	{"comment in a value", replace(stdPage, "<value>alice</value>", "<value>al<!-- x -->ice</value>"), false},
	{"element in a value", replace(stdPage, "<value>alice</value>", "<value><b>alice</b></value>"), false},
	{"element in a value the SDK checks", replace(stdPage, "<instanceType>t3.micro</instanceType>", "<instanceType><x/></instanceType>"), false},
	{"double hyphen in a comment", replace(stdPage, "<tagSet>", "<tagSet><!-- a -- b -->"), false},
	{"mismatched end tag", replace(stdPage, "</instanceType>", "</instancetype>"), false},
	{"unquoted attribute", replace(stdPage, "<tagSet>", "<tagSet a=b>"), false},
	{"attribute without space", replace(stdPage, "<tagSet>", `<tagSet a="b"c="d">`), false},
	{"entity in an attribute", replace(stdPage, "<tagSet>", `<tagSet a="&amp;">`), false},
	{"empty launch time", replace(stdPage, "<launchTime>2026-03-04T05:06:07.000Z</launchTime>", "<launchTime/>"), false},
	{"bad launch time", replace(stdPage, "2026-03-04T05:06:07.000Z</launchTime>", "yesterday</launchTime>"), false},
	{"bad device index", page(reservation(instance("i-1", "running", stdTags, eni("zero", "0", "2026-03-04T05:06:07Z")))), false},
	{"bad integer the SDK checks", replace(stdPage, "<amiLaunchIndex>0</amiLaunchIndex>", "<amiLaunchIndex>0x</amiLaunchIndex>"), false},
	{"bad boolean the SDK checks", replace(stdPage, "<ebsOptimized>false</ebsOptimized>", "<ebsOptimized>no</ebsOptimized>"), false},
	{"bad time the SDK checks", replace(stdPage, "<attachTime>2026-03-04T05:06:08.000Z</attachTime>", "<attachTime>soon</attachTime>"), false},
	{"bad integer in a structure the SDK checks", replace(stdPage, "<coreCount>1</coreCount>", "<coreCount> 1</coreCount>"), false},
	{"unknown entity in skipped text", replace(stdPage, "<imageId>", "<unknownX>&nbsp;</unknownX><imageId>"), false},
	{"]]> in skipped text", replace(stdPage, "<imageId>", "<unknownX>a]]>b</unknownX><imageId>"), false},
	{"mismatched end tag in skipped content", replace(stdPage, "<imageId>", "<u><a></b></u><imageId>"), false},
	{"double hyphen in a skipped comment", replace(stdPage, "<imageId>", "<u><!-- a -- b --></u><imageId>"), false},
	{"processing instruction in skipped content", replace(stdPage, "<imageId>", "<u><?pi x?></u><imageId>"), false},
	{"CDATA in skipped content", replace(stdPage, "<imageId>", "<u><![CDATA[x]]></u><imageId>"), false},
	{"nested too deep", replace(stdPage, "<imageId>", strings.Repeat("<a>", 80)+strings.Repeat("</a>", 80)+"<imageId>"), false},
	{"name with non-ASCII", replace(stdPage, "<imageId>", "<é/><imageId>"), false},
	{"space after <", replace(stdPage, "<imageId>", "< imageId/><imageId>"), false},
}
