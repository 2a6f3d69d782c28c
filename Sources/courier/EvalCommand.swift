import ArgumentParser
import CloudEvents
import Foundation
import Routing

/// `courier eval EXPR [--event FILE|-] [--var NAME=JSON ...]`: evaluates a CEL expression the way
/// routing rules are evaluated and prints the result in CEL literal syntax.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Evaluate a CEL expression (test routing rules).")

    @Argument(help: "The CEL expression.")
    var expression: String
    @Option(name: .customLong("event"), help: "A CloudEvent JSON file (or - for standard input) bound to `event`.")
    var event: String?
    @Option(name: .customLong("var"), help: "NAME=JSON: another variable (repeatable).")
    var variables: [String] = []

    func run() throws {
        var vars: [String: CELValue] = [:]
        do {
            if let event {
                let data = event == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                                        : try Data(contentsOf: URL(fileURLWithPath: event))
                vars["event"] = CELValue(json: try JSONParser.parse([UInt8](data)))
            }
            for item in variables {
                guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                    throw ValidationError("--var needs NAME=JSON, got '\(item)'")
                }
                vars[String(item[..<eq])] = CELValue(json: try JSONParser.parse(String(item[item.index(after: eq)...])))
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("courier eval: cannot read the input: \(error)\n".utf8))
            throw ExitCode(1)
        }
        do throws(CELError) {
            let program = try CELProgram(expression)
            say(try program.evaluate(vars).literal)
        } catch {
            let caret = error.column > 0 ? "\n" + expression + "\n" + String(repeating: " ", count: error.column - 1) + "^" : ""
            FileHandle.standardError.write(Data("courier eval: \(error)\(caret)\n".utf8))
            throw ExitCode(1)
        }
    }
}
