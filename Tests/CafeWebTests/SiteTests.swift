import CafeWeb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Projection
import Testing

@Suite("The website: form, status page, list", .timeLimit(.minutes(5)))
struct SiteTests {
    @Test("home page: the form with labelled fields and the failure-demo box, no external resources")
    func homePage() async throws {
        try await TestNode.withLiveServer { _, client in
            let response = try await client.get("/")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            let page = response.text
            for field in ["name", "people", "datetime", "notes", "testFailures"] {
                #expect(page.contains("<label for=\"\(field)\">"), "label for \(field)")
                #expect(page.contains("name=\"\(field)\""), "field \(field)")
            }
            #expect(page.contains("type=\"datetime-local\""))
            #expect(page.contains("<textarea id=\"notes\""))
            #expect(page.contains("Test database failures"))
            #expect(page.contains("nothing is lost"))
            #expect(page.contains("<meta name=\"viewport\""))
            #expect(!page.contains("http://") && !page.contains("https://"), "no external resources")
            #expect(!page.contains("<script"), "works without JavaScript")
            #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)

            let css = try await client.get("/assets/site.css")
            #expect(css.status == .ok)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            #expect(!css.text.contains("@import") && !css.text.contains("url("), "no fonts or images from elsewhere")
            #expect(try await client.get("/favicon.svg").status == .ok)
        }
    }

    @Test("form happy path: 303 to the status page, which shows the reservation as pending and refreshes")
    func formHappyPath() async throws {
        try await TestNode.withLiveServer { node, client in
            let response = try await client.postForm([
                ("name", "Bob"), ("people", "2"), ("datetime", "2020-11-16T20:00"), ("notes", "window seat, café"),
            ])
            #expect(response.status == .seeOther)
            let location = try #require(response.headers[.location])
            // The digest is the old site's: the same form gives the same reference everywhere; the link carries
            // the private token that opens it.
            #expect(location == node.statusLink("2e401f4cba1d2e90f354"))
            #expect(location.hasPrefix("/orders/2e401f4cba1d2e90f354?token="))
            #expect(node.storedRecordCount() == 1)

            let status = try await client.get(location)
            #expect(status.status == .ok)
            #expect(status.headers[.cacheControl] == "no-store")
            #expect(status.headers[.xRananeetiSource] != nil)
            let page = status.text
            #expect(page.contains("Bob"))
            #expect(page.contains("window seat, café"))
            #expect(page.contains("Monday 16 November 2020 at 20:00"))
            #expect(page.contains("pending"))
            #expect(page.contains("<meta http-equiv=\"refresh\" content=\"2\">"))
            #expect(page.contains("2e401f4cba1d2e90f354"))

            // The same form again is the same reservation: same page, nothing new stored.
            let again = try await client.postForm([
                ("name", "Bob"), ("people", "2"), ("datetime", "2020-11-16T20:00"), ("notes", "window seat, café"),
            ])
            #expect(again.headers[.location] == location)
            #expect(node.storedRecordCount() == 1)
        }
    }

    @Test("the browser's datetime-local with seconds and the ticked box are understood")
    func browserShapedForm() async throws {
        try await TestNode.withLiveServer { node, client in
            let response = try await client.postForm([
                ("name", "Bob"), ("people", "2"), ("datetime", "2020-11-16T20:00:00"), ("notes", "window seat, café"),
                ("testFailures", "on"),
            ])
            #expect(response.headers[.location] == node.statusLink("8a2f1dbfc18c8f751533"))
            let page = try await client.get(node.statusLink("8a2f1dbfc18c8f751533")).text
            #expect(page.contains("test database failures"))
            #expect(node.storedRecordCount() == 1)
        }
    }

    @Test("invalid form: 422, values kept, a message at each field, aria-invalid and aria-describedby, nothing stored")
    func invalidForm() async throws {
        try await TestNode.withLiveServer { node, client in
            let response = try await client.postForm([
                ("name", "Zoë"), ("people", "0"), ("datetime", "2021-02-29T19:00"), ("notes", "by the window"),
                ("testFailures", "on"),
            ])
            #expect(response.status == .unprocessableContent)
            let page = response.text
            #expect(page.contains("Please check your reservation"))
            #expect(page.contains("value=\"Zoë\""))
            #expect(page.contains("value=\"0\""))
            #expect(page.contains("value=\"2021-02-29T19:00\""))
            #expect(page.contains(">by the window</textarea>"))
            #expect(page.contains("id=\"testFailures\" name=\"testFailures\" value=\"on\" aria-describedby=\"testFailures-hint\" checked"))
            #expect(page.contains("Party size must be a whole number from 1 to 9999."))
            #expect(page.contains("There is no such date as 2021-02-29."))
            #expect(page.contains("id=\"people-error\""))
            #expect(page.contains("aria-describedby=\"people-hint people-error\" aria-invalid=\"true\""))
            #expect(page.contains("aria-describedby=\"datetime-hint datetime-error\" aria-invalid=\"true\""))
            #expect(!page.contains("id=\"name-error\""), "a valid field has no message")
            #expect(page.contains("href=\"#people\""), "the summary links to the field")
            #expect(node.storedRecordCount() == 0)

            let empty = try await client.postForm([])
            #expect(empty.status == .unprocessableContent)
            #expect(empty.text.contains("Please tell us the name for the booking."))
            #expect(empty.text.contains("Please tell us how many people are coming."))
            #expect(empty.text.contains("Please choose the date and time of the booking."))
            #expect(node.storedRecordCount() == 0)
        }
    }

    static let hostileNames = [
        "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "Robert'); DROP TABLE ordersraw;--",
        "O'Brien & \"Sons\"", "😀🎉 Zoë", "שלום עליכם", "مرحبا <b>",
    ]

    @Test("hostile names and notes are stored as text and escaped on every page", arguments: hostileNames)
    func hostileInputIsEscaped(name: String) async throws {
        try await TestNode.withLiveServer { node, client in
            let notes = "</textarea><script>alert('x')</script> \(name)"
            let response = try await client.postForm([
                ("name", name), ("people", "3"), ("datetime", "2030-01-02T12:30"), ("notes", notes),
            ])
            #expect(response.status == .seeOther)
            #expect(node.storedRecordCount() == 1)
            let location = try #require(response.headers[.location])
            let book = try await node.withOperatorClient { operations in
                try await operations.get("/reservations?from=2030-01-01&days=7").text
            }
            let pages = [try await client.get(location).text, book]
            for page in pages {
                #expect(!page.contains(name) || !name.contains(where: { "<>\"'&".contains($0) }), "raw name in page")
                #expect(page.contains(HTMLEscaping.escape(name)))
                #expect(!page.contains("<script>"))
                #expect(!page.contains("<img"))
                #expect(page.contains(HTMLEscaping.escape(notes)))
            }
            // Re-shown in a form field (an attribute and a textarea) after a problem elsewhere.
            let reshown = try await client.postForm([("name", name), ("people", "x"), ("notes", notes)]).text
            #expect(reshown.contains("value=\"\(HTMLEscaping.escape(name))\""))
            #expect(reshown.contains(">\(HTMLEscaping.escape(notes))</textarea>"))
            #expect(!reshown.contains("<script>"))
            #expect(node.storedRecordCount() == 1)
        }
    }

    @Test("over-long fields, wrong types, broken encodings and huge bodies: clear errors, nothing stored")
    func badFormInput() async throws {
        try await TestNode.withLiveServer { node, client in
            let long = try await client.postForm([
                ("name", String(repeating: "x", count: 41)), ("people", "2"), ("datetime", "2030-01-02T12:30"),
                ("notes", String(repeating: "y", count: 201)),
            ])
            #expect(long.status == .unprocessableContent)
            #expect(long.text.contains("The name can be at most 40 characters long."))
            #expect(long.text.contains("Notes can be at most 200 characters long."))

            let wrongTypes = try await client.postForm([
                ("name", "Bob"), ("people", "two"), ("datetime", "tomorrow evening"),
            ])
            #expect(wrongTypes.status == .unprocessableContent)
            #expect(wrongTypes.text.contains("Party size must be a whole number from 1 to 9999."))
            #expect(wrongTypes.text.contains("YYYY-MM-DDTHH:MM"))

            var headers = HTTPFields()
            headers[.contentType] = "application/x-www-form-urlencoded"
            let notUTF8 = try await client.execute(
                uri: "/order", method: .post, headers: headers, body: ByteBuffer(string: "name=%FF%FE&people=2"))
            #expect(notUTF8.status == .badRequest)
            #expect(notUTF8.headers[.contentType] == "text/html; charset=utf-8")
            #expect(notUTF8.text.contains("The form could not be read"))

            let huge = try await client.postForm([
                ("name", "Bob"), ("people", "2"), ("datetime", "2030-01-02T12:30"),
                ("notes", String(repeating: "z", count: 64 * 1024)),
            ])
            #expect(huge.status == .contentTooLarge)
            #expect(huge.headers[.contentType] == "text/html; charset=utf-8")
            #expect(huge.text.contains("larger than 16 KiB"))

            let notAForm = try await client.postJSON(#"{"name":"Bob"}"#, path: "/order")
            #expect(notAForm.status == .unsupportedMediaType)
            #expect(node.storedRecordCount() == 0)

            // The server is still well after all that.
            #expect(try await client.get("/").status == .ok)
        }
    }

    @Test("status page: 400 for a malformed reference, 404 page for an unknown one")
    func statusPageErrors() async throws {
        try await TestNode.withLiveServer { node, client in
            let malformed = try await client.get("/orders/not-a-digest")
            #expect(malformed.status == .badRequest)
            #expect(malformed.headers[.contentType] == "text/html; charset=utf-8")
            #expect(malformed.text.contains("That is not a reservation reference"))
            let uppercase = try await client.get("/orders/2E401F4CBA1D2E90F354")
            #expect(uppercase.status == .badRequest)

            // A link whose token is right for a reservation nobody made.
            let unknown = try await client.get(node.statusLink("00000000000000000000"))
            #expect(unknown.status == .notFound)
            #expect(unknown.text.contains("No such reservation"))
            #expect(unknown.text.contains("00000000000000000000"))
            #expect(unknown.headers[.xRananeetiSource] != nil)

            let nowhere = try await client.get("/no/such/page")
            #expect(nowhere.status == .notFound)
            #expect(nowhere.headers[.contentType] == "text/html; charset=utf-8")
            #expect(nowhere.text.contains("No such page"))

            let formTarget = try await client.get("/order")
            #expect(formTarget.status == .seeOther)
            #expect(formTarget.headers[.location] == "/")
        }
    }

    @Test("list: grouped by day, in order, within the range asked for, with later pages through a cursor")
    func reservationsList() async throws {
        var configuration = WebConfiguration(timeZone: TimeZone(identifier: "UTC")!)
        configuration.options.websiteListPageSize = 3
        try await TestNode.withLiveServer(configuration: configuration) { node, client in
            let bookings = [
                ("Carol", "2030-03-02T19:00"), ("Alice", "2030-03-01T12:00"), ("Bob", "2030-03-01T18:30"),
                ("Dave", "2030-03-03T09:15"), ("Outside", "2030-04-01T12:00"),
            ]
            for (name, dateTime) in bookings {
                let response = try await client.postForm([("name", name), ("people", "2"), ("datetime", dateTime)])
                #expect(response.status == .seeOther)
            }
            // The book is the staff's: a stranger on the public listener is asked to sign in.
            #expect(try await client.get("/reservations?from=2030-03-01&days=7").status == .unauthorized)
            try await node.withOperatorClient { client in
                let first = try await client.get("/reservations?from=2030-03-01&days=7")
                #expect(first.status == .ok)
                let page = first.text
                #expect(page.contains("Friday 1 March 2030"))
                #expect(page.contains("Saturday 2 March 2030"))
                let alice = try #require(page.range(of: "Alice")), bob = try #require(page.range(of: "Bob"))
                let carol = try #require(page.range(of: "Carol"))
                #expect(alice.lowerBound < bob.lowerBound && bob.lowerBound < carol.lowerBound)
                #expect(!page.contains("Dave"), "page size is 3")
                #expect(!page.contains("Outside"))
                let link = try #require(page.range(of: "cursor=")).upperBound
                let cursor = String(page[link...].prefix { $0 != "\"" })
                let second = try await client.get("/reservations?from=2030-03-01&days=7&cursor=\(cursor)").text
                #expect(second.contains("Dave"))
                #expect(!second.contains("Alice"))
                #expect(!second.contains("Outside"))

                let empty = try await client.get("/reservations?from=2031-01-01&days=1")
                #expect(empty.text.contains("No reservations from"))

                for bad in ["from=2030-13-01", "from=yesterday", "days=0", "days=93", "days=x", "cursor=%25%25"] {
                    let response = try await client.get("/reservations?\(bad)")
                    #expect(response.status == .badRequest, "\(bad)")
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                }
                #expect(try await client.get("/reservations").status == .ok, "defaults: from today, 14 days")
            }
        }
    }

    @Test("a log-only node reads from its local projection and says so: a banner and X-Rananeeti-Source: local")
    func localSourceBanner() async throws {
        try await TestNode.withLiveServer { node, client in
            let made = try await client.postForm([("name", "Eve"), ("people", "4"), ("datetime", "2030-05-05T20:00")])
            let location = try #require(made.headers[.location])
            try await node.withOperatorClient { operations in
                let list = try await operations.get("/reservations?from=2030-05-01&days=14")
                #expect(list.headers[.xRananeetiSource] == "local")
                #expect(list.text.contains("The database is not answering; showing the reservations this node holds. Others may be missing."))
                #expect(list.text.contains("Eve"))
                let api = try await operations.get("/api/v1/reservations?from=2030-05-01T00:00&to=2030-06-01T00:00")
                #expect(api.headers[.xRananeetiSource] == "local")
                #expect(try api.jsonObject()["source"] as? String == "local")
            }
            let status = try await client.get(location)
            #expect(status.headers[.xRananeetiSource] == "local")
            #expect(status.text.contains("The database is not answering"))
            let unknown = try await client.get(node.statusLink("00000000000000000000"))
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.xRananeetiSource] == "local")
            #expect(unknown.text.contains("not answering"))
        }
    }
}

/// The escaping every page must apply, written independently of the module's.
enum HTMLEscaping {
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }
}
