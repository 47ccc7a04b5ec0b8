//! The gRPC method names calls are counted and audited under: a fixed
//! set, so a client's path text never becomes a label of its own.

/// The methods metrics are labelled with; any other path is `other`
/// (paths are the client's text: never a label of their own).
const RPCS: [&str; 12] = [
    "Handshake",
    "ListFlights",
    "GetFlightInfo",
    "PollFlightInfo",
    "GetSchema",
    "DoGet",
    "DoPut",
    "DoExchange",
    "DoAction",
    "ListActions",
    "Check",
    "Watch",
];

/// The method name of a gRPC path (`/pkg.Service/Method` → `Method`), one
/// of [`RPCS`], or `other`.
pub fn rpc_name(path: &str) -> String {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", path));
    let known = matches!(
        service,
        "arrow.flight.protocol.FlightService" | "grpc.health.v1.Health"
    ) && RPCS.contains(&method);
    if known { method } else { "other" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::rpc_name;

    #[test]
    fn labels_are_a_fixed_set() {
        assert_eq!(
            rpc_name("/arrow.flight.protocol.FlightService/DoGet"),
            "DoGet"
        );
        assert_eq!(rpc_name("/grpc.health.v1.Health/Check"), "Check");
        assert_eq!(
            rpc_name("/arrow.flight.protocol.FlightService/Nope"),
            "other"
        );
        assert_eq!(rpc_name("/x/ab12cd34"), "other");
        assert_eq!(rpc_name("DoGet"), "other");
    }
}
