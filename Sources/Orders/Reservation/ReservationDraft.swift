/// The per-field outcomes of reading a request, gathered so that every problem is reported
/// at once, then turned into a ``Reservation`` or a ``ReservationValidationError``.
struct ReservationDraft {
    typealias Check = ReservationRules.Check

    var name: Check<String> = .invalid(ReservationRules.Message.nameMissing)
    var people: Check<Int> = .invalid(ReservationRules.Message.peopleMissing)
    var dateTime: Check<LocalDateTime> = .invalid(ReservationRules.Message.dateTimeMissing)
    var notes: Check<String> = .valid("")
    var testFailures: Check<Bool> = .valid(false)
    /// Problems with fields that are not one of the five (unknown or repeated names).
    var otherProblems: [ReservationValidationError.Problem] = []

    func reservation() throws(ReservationValidationError) -> Reservation {
        if case .valid(let name) = name, case .valid(let people) = people, case .valid(let dateTime) = dateTime,
            case .valid(let notes) = notes, case .valid(let testFailures) = testFailures, otherProblems.isEmpty
        {
            return Reservation(
                checkedName: name,
                people: people,
                dateTime: dateTime,
                notes: notes,
                testFailures: testFailures
            )
        }
        var problems: [ReservationValidationError.Problem] = []
        func add<Value>(_ check: Check<Value>, _ field: ReservationField) {
            if case .invalid(let message) = check {
                problems.append(.init(field: field, message: message))
            }
        }
        add(name, .name)
        add(people, .people)
        add(dateTime, .dateTime)
        add(notes, .notes)
        add(testFailures, .testFailures)
        problems += otherProblems
        throw ReservationValidationError(problems: problems)
    }
}
