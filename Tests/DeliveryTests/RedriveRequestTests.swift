import DeadLetters
import Testing

/// The redrive request body: defaults, every field, and clear refusals.
@Suite struct RedriveRequestTests {
    func parse(_ body: String) throws(RedriveRequest.Invalid) -> RedriveRequest { try RedriveRequest(json: Array(body.utf8)) }

    @Test func anEmptyBodyRedrivesEverythingToItsSubscription() throws {
        for body in ["", "  \n", "{}"] {
            let r = try parse(body)
            #expect(r.filter == nil && r.maxPerSecond == RedriveRequest.defaultRate && !r.dryRun && r.target == .subscription)
        }
    }

    @Test func everyField() throws {
        let r = try parse(#"{"filter":"event.deadletterreason == 'maxretries'","maxPerSecond":12.5,"dryRun":true,"target":"topic"}"#)
        #expect(r.filter?.source == "event.deadletterreason == 'maxretries'" && r.maxPerSecond == 12.5 && r.dryRun && r.target == .topic)
    }

    @Test(arguments: [
        (#"[1]"#, "not a JSON object"),
        (#"{"filter":3}"#, "filter must be a string"),
        (#"{"filter":"event.("}"#, "filter 'event.('"),
        (#"{"maxPerSecond":0}"#, "maxPerSecond must be a number above 0"),
        (#"{"dryRun":"yes"}"#, "dryRun must be true or false"),
        (#"{"target":"app"}"#, "target must be"),
        (#"{"rate":1}"#, "unknown field 'rate'"),
    ])
    func badBodiesAreRefusedSayingWhy(_ body: String, _ expected: String) {
        #expect(throws: RedriveRequest.Invalid.self) { try parse(body) }
        do throws(RedriveRequest.Invalid) {
            _ = try parse(body)
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }
}
