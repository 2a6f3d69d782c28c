@testable import Bindings
import CloudEvents
import Testing

@Suite struct GoJSONTests {
    func marshal(_ text: String) throws -> String {
        String(decoding: GoJSON.marshal(try JSONParser.parse(Array(text.utf8))), as: UTF8.self)
    }

    @Test func objectsAreSortedAndCompact() throws {
        #expect(try marshal(#" { "b" : [1, 2.50, true, null], "a": {"z": "x", "y": {}} } "#) == #"{"a":{"y":{},"z":"x"},"b":[1,2.5,true,null]}"#)
        #expect(try marshal(#""hi""#) == #""hi""#)
    }

    @Test(arguments: [("1", "1"), ("1.0", "1"), ("-0.5", "-0.5"), ("100", "100"), ("1e21", "1e+21"), ("123456789012345678901", "123456789012345680000"),
                      ("0.000001", "0.000001"), ("0.0000001", "1e-07"), ("1.5e300", "1.5e+300"), ("12345.678", "12345.678"), ("-0", "-0")])
    func numbersAsGoPrintsAFloat64(_ input: String, _ expected: String) throws {
        #expect(try marshal(input) == expected)
    }

    @Test func stringsAreHTMLSafe() throws {
        #expect(try marshal(#""<a href=\"x\">&</a>\n\u2028""#) == #""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e\n\u2028""#)
        #expect(try marshal(#""back\\slash\\u003c""#) == #""back\\slash\\u003c""#)
    }
}
