import CloudEvents
import Routing
import Testing

@Suite struct CELTests {
    static let event: CELValue = CELValue(json: try! JSONParser.parse(#"""
        {"id":"1","type":"order.created","source":"shop/eu","specversion":"1.0","topic":"orders",
         "data":{"total":150.5,"amount":12000,"items":[{"sku":"a","qty":2},{"sku":"b","qty":1}],"tags":["x","y"],"note":null}}
        """#))

    func eval(_ text: String) throws(CELError) -> String {
        try CELProgram(text).evaluate(["event": Self.event]).literal
    }

    @Test(arguments: [
        // literals
        ("1", "1"), ("-1", "-1"), ("1u", "1u"), ("0x1F", "31"), ("0xFFu", "255u"), ("1.5", "1.5"), ("1e3", "1000.0"), ("-9223372036854775808", "-9223372036854775808"),
        ("'a\\nb'", "\"a\\nb\""), ("\"\\u00e9\"", "\"é\""), ("r'\\n'", "\"\\\\n\""), ("'''multi\nline'''", "\"multi\\nline\""),
        ("b'\\x00\\xff'", "b\"\\x00\\xff\""), ("b'abc'", "b\"abc\""), ("\"\\101\"", "\"A\""), ("true", "true"), ("null", "null"),
        ("[1, 'a', 2.0]", "[1, \"a\", 2.0]"), ("{'a': 1, 2: 'b'}", "{\"a\": 1, 2: \"b\"}"), ("[1,2,]", "[1, 2]"),
        // arithmetic and precedence
        ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("7 / 2", "3"), ("-7 / 2", "-3"), ("7 % 3", "1"), ("-7 % 3", "-1"), ("7.0 / 2.0", "3.5"),
        ("3u - 1u", "2u"), ("'ab' + 'cd'", "\"abcd\""), ("[1] + [2]", "[1, 2]"), ("b'a' + b'b'", "b\"ab\""), ("--1", "1"), ("!!true", "true"),
        ("1 < 2 == true", "true"), ("true || false && false", "true"), ("false ? 1 : 2", "2"), ("true ? 1 : false ? 2 : 3", "1"),
        // comparisons, heterogeneous numerics
        ("1 == 1.0", "true"), ("1u == 1", "true"), ("1 < 1.5", "true"), ("2u > 1.5", "true"), ("-1 < 0u", "true"), ("'a' < 'b'", "true"),
        ("b'a' < b'b'", "true"), ("false < true", "true"), ("[1, 2] == [1, 2.0]", "true"), ("{'a': 1} == {'a': 1u}", "true"),
        ("1 != 'a'", "true"), ("null == null", "true"),
        // cel-go compares an int with a double as doubles (within range), as the conformance tests expect
        ("9223372036854775807 < 9223372036854775808.0", "false"), ("9223372036854775807 >= 9223372036854775808.0", "true"),
        ("9223372036854775808u > 1", "true"), ("1 < 9223372036854775808u", "true"), ("18446744073709551615u", "18446744073709551615u"),
        // strings compare by code point, without Unicode normalisation
        ("'Am\\u00E9lie' == 'Ame\\u0301lie'", "false"), ("'\\u00E9' > 'e\\u0301'", "true"),
        // the protobuf type names of timestamps and durations
        ("google.protobuf.Timestamp == type(timestamp('2009-02-13T23:31:30Z'))", "true"),
        ("type(duration('1s')) == google.protobuf.Duration", "true"),
        ("timestamp('2009-02-13T23:31:30Z').getHours('02:00')", "1"),
        // two-variable comprehensions (index or key, value)
        ("[1, 2, 3].exists(i, v, i == 1 && v == 2)", "true"), ("{'a': 1, 'b': 2}.all(k, v, v > 0 && k != 'c')", "true"),
        ("[5, 7, 8].existsOne(i, v, v % 5 == i)", "true"), ("[0, 1, 2, 3].existsOne(i, v, v == i)", "false"), ("[2, 4, 6].transformList(i, v, v / 2 + i)", "[1, 3, 5]"),
        ("[2, 4, 6].transformList(i, v, i != 1, v)", "[2, 6]"), ("{'foo': 'bar'}.transformMap(k, v, k + v)", "{\"foo\": \"foobar\"}"),
        ("{'a': 1}.transformMapEntry(k, v, {v: k})", "{1: \"a\"}"),
        // in
        ("2 in [1, 2]", "true"), ("'a' in {'a': 1}", "true"), ("3 in [1, 2]", "false"), ("1.0 in [1]", "true"),
        // logic absorbs errors
        ("false && (1 / 0 == 1)", "false"), ("(1 / 0 == 1) && false", "false"), ("true || (1 / 0 == 1)", "true"), ("(1 / 0 == 1) || true", "true"),
        // event access (numbers are doubles, as in Dapr)
        ("event.type == 'order.created'", "true"), ("event.data.total > 100", "true"), ("int(event.data.amount) > 10000", "true"),
        ("event.data.amount > 10000", "true"), ("event['type']", "\"order.created\""), ("event.data.items[1].sku", "\"b\""),
        ("event.data.items[1.0].qty", "1.0"), ("has(event.data)", "true"), ("has(event.subject)", "false"), ("event.data.note == null", "true"),
        ("event.type == 'order.created' && event.data.total > 100.0 && event.source.startsWith('shop/')", "true"),
        // macros
        ("event.data.items.all(i, i.qty > 0)", "true"), ("event.data.items.exists(i, i.sku == 'b')", "true"),
        ("event.data.items.exists_one(i, i.qty == 1)", "true"), ("[1, 2, 3].map(x, x * 2)", "[2, 4, 6]"),
        ("[1, 2, 3].map(x, x > 1, x * 10)", "[20, 30]"), ("[1, 2, 3].filter(x, x % 2 == 1)", "[1, 3]"), ("{'a': 1, 'b': 2}.all(k, k != 'c')", "true"),
        ("[1, 0].exists(x, 1 / x == 1)", "true"), ("[0, 1].all(x, 1 / x == 1) || true", "true"),
        // functions
        ("size('héllo')", "5"), ("'hello'.size()", "5"), ("size([1, 2])", "2"), ("size({'a': 1})", "1"), ("size(b'ab')", "2"),
        ("'hello'.contains('ell')", "true"), ("'e\\u0301'.startsWith('e')", "true"), ("'abc'.contains('')", "true"), ("'ab'.endsWith('abc')", "false"), ("'hello'.startsWith('he')", "true"), ("'hello'.endsWith('lo')", "true"),
        ("'order-42'.matches('^order-[0-9]+$')", "true"), ("'abc'.matches('')", "true"), ("''.matches('')", "true"), ("matches('abc', 'b')", "true"), ("'ABC'.lowerAscii()", "\"abc\""),
        ("int('42')", "42"), ("int(3.9)", "3"), ("int(-3.9)", "-3"), ("uint(3)", "3u"), ("double(3)", "3.0"), ("string(1.5)", "\"1.5\""),
        ("string(3u)", "\"3\""), ("string(b'hi')", "\"hi\""), ("bytes('hi')", "b\"hi\""), ("bool('true')", "true"), ("type(1)", "int"),
        ("type('a') == string", "true"), ("dyn(1) == 1", "true"), ("type(event.data.total)", "double"),
        ("timestamp('2024-03-01T10:20:30.5Z')", "timestamp(\"2024-03-01T10:20:30.5Z\")"), ("duration('1h30m')", "duration(\"5400s\")"),
        ("timestamp('2024-03-01T10:20:30Z').getFullYear()", "2024"), ("timestamp('2024-03-01T10:20:30Z').getMonth()", "2"),
        ("timestamp('2024-03-01T10:20:30Z').getDate()", "1"), ("timestamp('2024-03-01T10:20:30Z').getDayOfWeek()", "5"),
        ("timestamp('2024-03-01T10:20:30Z').getDayOfYear()", "60"), ("timestamp('2024-03-01T10:20:30Z').getHours('+02:00')", "12"),
        ("timestamp('2024-01-01T00:00:00Z') + duration('36h')", "timestamp(\"2024-01-02T12:00:00Z\")"),
        ("timestamp('2024-01-02T00:00:00Z') - timestamp('2024-01-01T00:00:00Z')", "duration(\"86400s\")"),
        ("timestamp('2024-01-02T00:00:00Z') > timestamp('2024-01-01T00:00:00+05:00')", "true"), ("duration('1s') < duration('2s')", "true"),
        ("duration('90m').getHours()", "1"), ("int(timestamp('1970-01-01T00:01:00Z'))", "60"),
        // named time zones (IANA, with daylight saving at that instant)
        ("timestamp('2024-07-01T10:00:00Z').getHours('Europe/Paris')", "12"), ("timestamp('2024-01-01T10:00:00Z').getHours('Europe/Paris')", "11"),
        ("timestamp('2024-01-01T03:00:00Z').getDate('America/Los_Angeles')", "31"), ("timestamp('2024-01-01T10:00:00Z').getHours('UTC')", "10"),
        // backtick-quoted field names (names that are not identifiers)
        ("{'content-type': 'json'}.`content-type`", "\"json\""), ("has({'a.b': 1}.`a.b`)", "true"), ("has({'a': 1}.`a b/c`)", "false"),
        ("event.`type` == 'order.created'", "true"),
    ])
    func evaluates(_ expression: String, _ expected: String) throws {
        #expect(try eval(expression) == expected, "\(expression)")
    }

    @Test(arguments: [
        ("1 / 0", "division by zero"), ("-(-9223372036854775808)", "overflow"), ("-(int(-9223372036854775808.0))", "overflow"), ("1 % 0", "modulus by zero"), ("9223372036854775807 + 1", "overflow"), ("-9223372036854775808 - 1", "overflow"),
        ("0u - 1u", "overflow"), ("-9223372036854775808 / -1", "overflow"), ("int(1e20)", "overflow"), ("uint(-1)", "overflow"),
        ("event.nothing", "no such key"), ("{'a': 1}['b']", "no such key"), ("[1][5]", "out of range"), ("event.data.total + 'a'", "no matching overload"),
        ("event.type < 1", "no matching overload"), ("'a'.matches('(')", "invalid regular expression"), ("undeclared == 1", "undeclared reference"),
        ("!event.data.total", "no matching overload"), ("event.data.total ? 2 : 3", "no matching overload"), ("timestamp('yesterday')", "invalid timestamp"),
        ("int('x')", "cannot convert"), ("{'a': 1, 'a': 2}", "repeated map key"), ("size(event.data.total)", "no matching overload"),
        ("[1].all(x, x)", "predicate must be a bool"), ("false || (1 / 0 == 1)", "division by zero"),
        ("timestamp('2024-01-01T00:00:00Z').getHours('Mars/Olympus')", "unknown time zone"),
        ("[1, 2].transformMapEntry(i, v, {'k': v})", "already exists"), ("[1].all(i, v, v)", "predicate must be a bool"),
    ])
    func evaluationErrors(_ expression: String, _ fragment: String) throws {
        let program = try CELProgram(expression)
        #expect(throws: CELError.self) { _ = try program.evaluate(["event": Self.event]) }
        do {
            _ = try program.evaluate(["event": Self.event])
        } catch {
            #expect(error.message.contains(fragment), "\(expression): \(error.message)")
        }
    }

    @Test(arguments: [
        ("1 +", 4), ("(1", 3), ("foo(1)", 1), ("'abc", 1), ("1 $ 2", 3), ("has(x)", 1), ("[1].map(1, 2)", 4), ("a.b(", 5),
        ("size(1, 2)", 1), ("'a'.startsWith()", 4), ("if", 1), ("\"\\q\"", 1), ("1 ? 2", 6), ("18446744073709551616u", 1),
        ("9223372036854775808", 1), ("{1: }", 5), ("event.x == 1 || 1 + 'a' == 2", 19), ("size(1) > 0", 1), ("{[1]: 2}", 2),
        ("a.`b", 3), ("a.``", 3), ("a.`b!`", 5), ("`a`", 1),
    ])
    func compileErrorsPointAtTheColumn(_ expression: String, _ column: Int) {
        do {
            _ = try CELProgram(expression)
            Issue.record("\(expression) should not compile")
        } catch {
            #expect(error.column == column, "\(expression): \(error)")
        }
    }

    @Test func deepNestingAndRandomInputNeverCrash() {
        #expect(throws: CELError.self) { _ = try CELProgram(String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)) }
        #expect(throws: CELError.self) { _ = try CELProgram(String(repeating: "-", count: 10_000) + "1") }
        let alphabet = Array("ab1.0u'\"()[]{}+-*/%!<>=&|?:,xy \\ntruehasmapin")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 0..<24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            if let program = try? CELProgram(text) { _ = try? program.evaluate(["event": Self.event, "a": .int(1), "x": .list([])]) }
        }
    }

    @Test func nonBoolRuleIsAnError() throws {
        #expect(throws: CELError.self) { _ = try CELProgram("event.type").evaluateBool(["event": Self.event]) }
        #expect(try CELProgram("event.type == 'order.created'").evaluateBool(["event": Self.event]))
    }
}
