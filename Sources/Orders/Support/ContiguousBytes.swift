/// Calls `body` with the bytes of `collection` in contiguous memory, copying them only if
/// the collection does not already store them that way (`[UInt8]`, `ArraySlice<UInt8>`,
/// `UnsafeRawBufferPointer` and the like do).
func withContiguousBytes<Success, Failure: Error>(
    of collection: some Collection<UInt8>,
    _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Success
) throws(Failure) -> Success {
    // withContiguousStorageIfAvailable only rethrows `any Error`; carry the typed error out.
    let outcome: Result<Success, Failure>? = collection.withContiguousStorageIfAvailable { bytes in
        Result { () throws(Failure) -> Success in try body(bytes) }
    }
    if let outcome { return try outcome.get() }
    return try Array(collection).withUnsafeBufferPointer(body)
}
