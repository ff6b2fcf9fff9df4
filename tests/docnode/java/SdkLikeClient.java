// An independent client in Java that reproduces how the VNPT VXP SDK 2.0.1 builds its
// requests (spec/vxp-test-vectors.md): one java.util.HashMap of logical headers per service
// object, a timestamp fixed when the object is created, keys kept across calls (stale keys),
// HMAC-SHA256 with javax.crypto, hash-file with Integer.toHexString (no zero padding).
// Used by tests/docnode/test_vxp_java_client.py (no vendor jar needed); prints
// "OP<TAB>sign-header-key<TAB>answer". The real SDK is run by contrib/sdk-acceptance.
//
// Where the real SDK differs (seen running it; none of it changes what the axis must accept):
// - Only its sendEdoc uses HttpURLConnection (buffered body, Content-Type application/
//   octet-stream replacing the multipart type it set first, plus Cache-Control/Pragma
//   no-cache). Every other call goes through Apache HttpClient 4 with the XroadVnpt headers as
//   default headers: the list calls post an empty form entity (Content-Length: 0), getEdoc,
//   updateStatus and the counters post "{}" with Expect: 100-continue and Accept-Encoding:
//   gzip,deflate; a new connection pool per call. This client uses HttpURLConnection for all.
// - Its HashMap is case-sensitive but HttpURLConnection's request properties are not: after
//   both "docId" and "docid" were put, its HttpClient calls send both headers while its sendEdoc
//   sends one (the first name, the later value). Both are signed either way.
// - It decodes the sendEdoc answer as US-ASCII and the others as UTF-8, joining lines.
// - The vendor example writes updateStatus's docId unquoted ({"status":"done","docId":ID}),
//   which its lenient Gson parser accepts.
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class SdkLikeClient {
    private final String endpoint;
    private final String systemId;
    private final String secret;
    private final String timestamp;
    private final Map<String, String> headers = new HashMap<>();

    SdkLikeClient(String endpoint, String systemId, String secret) {
        this.endpoint = endpoint;
        this.systemId = systemId;
        this.secret = secret;
        this.timestamp = new SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS").format(new Date());
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"') b.append("\\\"");
            else if (c == '\\') b.append("\\\\");
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String hashFile(byte[] data) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (byte b : MessageDigest.getInstance("SHA-256").digest(data)) {
            sb.append(Integer.toHexString(b & 0xFF));
        }
        return sb.toString();
    }

    String call(String op, String contentType, String[][] params, byte[] body) throws Exception {
        headers.put("timestamp", timestamp);
        headers.put("systemid", systemId);
        headers.put("Content-Type", contentType);
        for (String[] p : params) headers.put(p[0], p[1]);
        StringBuilder keys = new StringBuilder();
        StringBuilder signed = new StringBuilder("{");
        for (Map.Entry<String, String> e : headers.entrySet()) {
            if (keys.length() > 0) { keys.append(';'); signed.append(','); }
            keys.append(e.getKey());
            signed.append(json("XroadVnpt-" + e.getKey())).append(':').append(json(e.getValue()));
        }
        signed.append('}');
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        StringBuilder hmac = new StringBuilder();
        for (byte b : mac.doFinal(signed.toString().getBytes(StandardCharsets.UTF_8))) {
            hmac.append(String.format("%02x", b));
        }
        HttpURLConnection c = (HttpURLConnection) new URL(endpoint + "/" + op).openConnection();
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setRequestProperty("Content-Type", contentType);
        for (Map.Entry<String, String> e : headers.entrySet()) {
            c.setRequestProperty("XroadVnpt-" + e.getKey(), e.getValue());
        }
        c.setRequestProperty("XroadVnpt-sign-header-key", keys.toString());
        c.setRequestProperty("XroadVnpt-sign-header", signed.toString());
        c.setRequestProperty("XroadVnpt-hash-header", hmac.toString());
        c.setRequestProperty("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP");
        c.setRequestProperty("XroadVnpt-version", "3.0.201608");
        if (body.length > 0 && !op.equals("sendEdoc")) c.setRequestProperty("Expect", "100-continue");
        c.setFixedLengthStreamingMode(body.length);
        try (OutputStream out = c.getOutputStream()) { out.write(body); }
        ByteArrayOutputStream answer = new ByteArrayOutputStream();
        try (InputStream in = c.getInputStream()) { in.transferTo(answer); }
        String text = answer.toString(StandardCharsets.UTF_8);
        System.out.println(op + "\t" + keys + "\t" + text);
        return text;
    }

    String sendEdoc(String from, String type, String to, byte[] packet) throws Exception {
        byte[] body = new byte[packet.length + 2];
        System.arraycopy(packet, 0, body, 0, packet.length);
        body[packet.length] = '\r';
        body[packet.length + 1] = '\n';
        String[][] params = to == null
            ? new String[][] {{"from", from}, {"servicetype", "eDoc"}, {"messagetype", type},
                              {"hash-file", hashFile(packet)}}
            : new String[][] {{"from", from}, {"servicetype", "eDoc"}, {"messagetype", type},
                              {"to", to}, {"hash-file", hashFile(packet)}};
        return call("sendEdoc", "application/octet-stream", params, body);
    }

    String received(String type) throws Exception {
        return call("getReceivedEdocList", "application/json",
                    new String[][] {{"servicetype", "eDoc"}, {"messagetype", type}}, new byte[0]);
    }

    String getEdoc(String docId) throws Exception {
        return call("getEdoc", "application/json",
                    new String[][] {{"docId", docId}, {"filePath", "/tmp/edoc-store"}},
                    "{}".getBytes(StandardCharsets.UTF_8));
    }

    String updateStatus(String docId, String status) throws Exception {
        return call("updateStatus", "application/json",
                    new String[][] {{"docid", docId}, {"status", status}},
                    "{}".getBytes(StandardCharsets.UTF_8));
    }

    String sent(String type) throws Exception {
        return call("getSentEdocList", "application/json",
                    new String[][] {{"servicetype", "eDoc"}, {"messagetype", type}}, new byte[0]);
    }

    String agencies() throws Exception {
        return call("getAgenciesList", "application/json", new String[0][], new byte[0]);
    }

    static String firstDocId(String listAnswer) {
        Matcher m = Pattern.compile("\"docId\":\"([^\"]+)\"").matcher(listAnswer);
        if (!m.find()) throw new IllegalStateException("no docId in " + listAnswer);
        return m.group(1);
    }

    // args: endpoint sysA secretA organA sysB secretB organB edocFile statusFile fresh|long
    public static void main(String[] a) throws Exception {
        String ep = a[0];
        boolean fresh = a[9].equals("fresh");
        byte[] edoc = Files.readAllBytes(Paths.get(a[7]));
        byte[] status = Files.readAllBytes(Paths.get(a[8]));
        SdkLikeClient longA = new SdkLikeClient(ep, a[1], a[2]);
        SdkLikeClient longB = new SdkLikeClient(ep, a[4], a[5]);
        java.util.function.Supplier<SdkLikeClient> A =
            () -> fresh ? new SdkLikeClient(ep, a[1], a[2]) : longA;
        java.util.function.Supplier<SdkLikeClient> B =
            () -> fresh ? new SdkLikeClient(ep, a[4], a[5]) : longB;
        A.get().sendEdoc(a[3], "edoc", "[\"" + a[6] + "\"]", edoc);
        String id = firstDocId(B.get().received("edoc"));
        B.get().getEdoc(id);
        B.get().updateStatus(id, "done");
        B.get().sendEdoc(a[6], "status", null, status);
        String sid = firstDocId(A.get().received("status"));
        A.get().getEdoc(sid);
        A.get().updateStatus(sid, "done");
        A.get().sent("edoc");
        A.get().agencies();
    }
}
