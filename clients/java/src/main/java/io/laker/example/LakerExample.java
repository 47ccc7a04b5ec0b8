package io.laker.example;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Optional;

import org.apache.arrow.flight.CallOption;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.grpc.CredentialCallOption;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * Downloads a slice of a Laker dataset with the standard Arrow Flight client,
 * then runs a query through the Flight SQL JDBC driver.
 *
 * <pre>mvn -q compile exec:java -Dexec.args="localhost 50051 demo demo"</pre>
 */
public final class LakerExample {
    private LakerExample() {}

    public static void main(String[] args) throws Exception {
        String host = args.length > 0 ? args[0] : "localhost";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 50051;
        String user = args.length > 2 ? args[2] : "demo";
        String password = args.length > 3 ? args[3] : "demo";

        try (BufferAllocator allocator = new RootAllocator();
             FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure(host, port)).build()) {
            // Handshake: Basic credentials in, a bearer token out.
            Optional<CredentialCallOption> bearer = client.authenticateBasicToken(user, password);
            CallOption auth = bearer.orElseThrow(() -> new IllegalStateException("no token"));

            // The download spec: columns, a filter and a limit, pushed down to the lake.
            String spec = "{\"dataset\": \"demo.trips\", \"columns\": [\"pickup_at\", \"fare\", \"city\"],"
                    + " \"filter\": \"fare > 30\", \"limit\": 1000}";
            FlightInfo info = client.getInfo(FlightDescriptor.command(spec.getBytes(StandardCharsets.UTF_8)), auth);
            long rows = 0;
            for (FlightEndpoint endpoint : info.getEndpoints()) {
                try (FlightStream stream = client.getStream(endpoint.getTicket(), auth)) {
                    VectorSchemaRoot root = stream.getRoot();
                    while (stream.next()) {
                        rows += root.getRowCount();
                    }
                }
            }
            System.out.println(rows + " rows of " + info.getSchema());
        }

        // Flight SQL over JDBC: the same port, the same grants.
        String url = "jdbc:arrow-flight-sql://" + host + ":" + port + "/?useEncryption=false";
        try (Connection conn = DriverManager.getConnection(url, user, password);
             Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery("SELECT city, count(*) AS zones FROM demo.zones GROUP BY city")) {
            while (rs.next()) {
                System.out.println(rs.getString("city") + ": " + rs.getLong("zones"));
            }
        }
    }
}
