#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DNSWire
import GeoRouting

/// Decoding of ipstack's JSON answers (https://ipstack.com/documentation): the success form
/// `{"ip": .., "latitude": .., "longitude": .., "country_code": .., "continent_code": ..,
/// "city": ..}` (coordinates may be null) and the error form
/// `{"success": false, "error": {"code": 101, "type": "invalid_access_key", "info": ".."}}`.
public enum IPStackResponse {
    private struct Body: Decodable {
        struct APIError: Decodable {
            var code: Int?
            var type: String?
            var info: String?
        }
        var success: Bool?
        var error: APIError?
        var latitude: Double?
        var longitude: Double?
        var country_code: String?
        var continent_code: String?
        var city: String?
    }

    /// ipstack error codes that describe the address, not the service: cached as "no location"
    /// without counting towards the circuit breaker.
    static let addressErrorCodes: Set<Int> = [106]

    /// Parses a response body. Returns the location (source `.ipstack`, `network` as given),
    /// nil when ipstack has no coordinates for the address, or throws ``GeoIPError``
    /// (`.ipstackAPIError` for the error form, `.ipstackDecode` for anything else).
    public static func location(from body: [UInt8], network: IPNetwork) throws -> Location? {
        let decoded: Body
        do {
            decoded = try JSONDecoder().decode(Body.self, from: Data(body))
        } catch {
            throw GeoIPError(.ipstackDecode, "response is not ipstack JSON (\(body.count) bytes)")
        }
        if decoded.success == false || decoded.error != nil {
            let code = decoded.error?.code
            if let code, addressErrorCodes.contains(code) { return nil }
            let type = decoded.error?.type ?? "unknown"
            let info = decoded.error?.info.map { ": \($0)" } ?? ""
            throw GeoIPError(.ipstackAPIError, "API error \(code.map(String.init) ?? "?") \(type)\(info)")
        }
        guard let latitude = decoded.latitude, let longitude = decoded.longitude else { return nil }
        let coordinate = Coordinate(latitude: latitude, longitude: longitude)
        guard coordinate.isValid else { return nil }
        func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }
        return Location(coordinate: coordinate, source: .ipstack, network: network,
                        countryCode: nonEmpty(decoded.country_code),
                        continentCode: nonEmpty(decoded.continent_code),
                        city: nonEmpty(decoded.city))
    }
}
