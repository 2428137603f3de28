import Orders
import Testing

@Suite("LocalDateTime")
struct LocalDateTimeTests {
    @Test("parses and prints YYYY-MM-DDTHH:MM")
    func parsesCanonicalText() throws {
        let dateTime = try LocalDateTime.parse("2020-11-16T20:05")
        #expect(
            [dateTime.year, dateTime.month, dateTime.day, dateTime.hour, dateTime.minute] == [2020, 11, 16, 20, 5]
        )
        #expect(dateTime.description == "2020-11-16T20:05")
        #expect(LocalDateTime("2020-11-16T20:05") == dateTime)
    }

    @Test("accepts :00 seconds (an HTML datetime-local value) only when asked to")
    func zeroSeconds() throws {
        #expect(try LocalDateTime.parse("2020-11-16T20:00:00") == Fixtures.dateTime)
        #expect(throws: LocalDateTimeError.badFormat) {
            try LocalDateTime.parse("2020-11-16T20:00:00", allowingZeroSeconds: false)
        }
        #expect(LocalDateTime("2020-11-16T20:00:00") == nil)
    }

    @Test(
        "refuses and explains",
        arguments: [
            ("2020-11-16T20:00:30", LocalDateTimeError.secondsNotZero),
            ("2020-11-16T20:00:60", .secondsNotZero),
            ("", .badFormat),
            ("2020-11-16", .badFormat),
            ("2020-11-16 20:00", .badFormat),
            ("2020-11-16t20:00", .badFormat),
            ("2020-1-16T20:00", .badFormat),
            ("20201116T2000", .badFormat),
            ("2020-11-16T20:00Z", .badFormat),
            ("2020-11-16T20:00:00.000", .badFormat),
            ("2020-11-16T20:00:0a", .badFormat),
            (" 2020-11-16T20:00", .badFormat),
            ("+020-11-16T20:00", .badFormat),
            ("２０２０-11-16T20:00", .badFormat),
            ("12020-11-16T20:00", .badFormat),
            ("0000-01-01T00:00", .yearOutOfRange),
            ("2021-02-29T12:00", .noSuchDate),
            ("1900-02-29T12:00", .noSuchDate),
            ("2100-02-29T12:00", .noSuchDate),
            ("2020-02-30T12:00", .noSuchDate),
            ("2020-04-31T12:00", .noSuchDate),
            ("2020-13-01T12:00", .noSuchDate),
            ("2020-00-01T12:00", .noSuchDate),
            ("2020-01-00T12:00", .noSuchDate),
            ("2020-11-16T24:00", .noSuchTime),
            ("2020-11-16T23:60", .noSuchTime),
        ]
    )
    func refuses(text: String, error: LocalDateTimeError) {
        #expect(throws: error) { try LocalDateTime.parse(text) }
    }

    @Test(
        "knows leap years and the ends of the range",
        arguments: [
            "2020-02-29T12:00", "2000-02-29T00:00", "2400-02-29T23:59", "0004-02-29T00:00",
            "0001-01-01T00:00", "9999-12-31T23:59", "2021-12-31T23:59",
        ]
    )
    func accepts(text: String) throws {
        #expect(try LocalDateTime.parse(text).description == text)
    }

    @Test("checks parts given as numbers")
    func checksParts() {
        #expect(throws: LocalDateTimeError.yearOutOfRange) {
            try LocalDateTime(year: 10000, month: 1, day: 1, hour: 0, minute: 0)
        }
        #expect(throws: LocalDateTimeError.noSuchDate) {
            try LocalDateTime(year: 2023, month: 2, day: 29, hour: 0, minute: 0)
        }
        #expect(throws: LocalDateTimeError.noSuchTime) {
            try LocalDateTime(year: 2023, month: 2, day: 28, hour: 0, minute: -1)
        }
    }

    @Test("orders by time, field by field")
    func ordering() throws {
        let texts = [
            "0001-01-01T00:00", "2020-11-16T19:59", "2020-11-16T20:00", "2020-11-17T00:00", "2020-12-01T00:00",
            "2021-01-01T00:00", "9999-12-31T23:59",
        ]
        let values = try texts.map { try LocalDateTime.parse($0) }
        #expect(values.shuffled().sorted() == values)
        #expect(values[1] < values[2] && !(values[2] < values[1]))
    }
}
