// Acceptance of a docnode VXP axis against the vendor's own Java client (VNPT SDKVXP 2.0.1).
//
// Our code, not the vendor's: it uses only the SDK's public API (VnptProperties,
// KnobstickServiceImp, AgencyServiceImp and their result models), called the way the vendor's
// example program (ServiceTest) calls it: JSON header strings, "eDoc" service type, a
// "filePath" folder for getEdoc, {"status":"done","docId":ID} for updateStatus.
//
// Two client systems: A sends two signed edocs to B; B lists them, fetches and acknowledges
// each in turn (the receive loop of an integration), then sends a signed status back; A lists,
// fetches and acknowledges the status; getSentEdocList on A shows B's copies going from
// pending to done; the counters and getAgenciesList work.
//
// MODE "fresh" makes a new SDK service object for every call (new timestamp, empty header map);
// MODE "long" keeps one object per system for every call (fixed timestamp, stale headers from
// earlier calls re-sent and signed: the SDK's normal use in a long-running service), and
// acknowledges with "docid" while it fetches with "docId", as integrations in production do.
//
// The SDK swallows its own exceptions (printStackTrace, then a null or half-filled result), so
// every call runs with System.out/System.err captured: anything the SDK writes to stderr is an
// exception it swallowed and fails the step. The SDK's stdout chatter goes to WORKDIR/sdk-MODE.log.
//
// Usage: java -cp SDK-JARS:. SdkAcceptance MODE ENDPOINT SYS_A ORGAN_A SYS_B ORGAN_B PACKETS
//        WORKDIR   with the secrets in $SDK_ACCEPT_SECRET_A and $SDK_ACCEPT_SECRET_B; PACKETS
//        holds edoc-1.edxml and edoc-2.edxml (A to B) and status.edxml (B's answer to edoc 1).
// Prints "PASS|FAIL <mode> <step>: <detail>" per check and "SUMMARY <mode> N passed, M failed";
// exits 0 only when every check passed.

import com.vpcp.services.AgencyServiceImp;
import com.vpcp.services.KnobstickServiceImp;
import com.vpcp.services.VnptProperties;
import com.vpcp.services.model.Agency;
import com.vpcp.services.model.BasicResult;
import com.vpcp.services.model.CountReceiveEdoc;
import com.vpcp.services.model.GetAgenciesResult;
import com.vpcp.services.model.GetChangeStatusResult;
import com.vpcp.services.model.GetEdocResult;
import com.vpcp.services.model.GetReceivedEdocResult;
import com.vpcp.services.model.GetSendEdocResult;
import com.vpcp.services.model.Knobstick;
import com.vpcp.services.model.SendEdocResult;
import com.vpcp.services.model.StatusResult;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

public final class SdkAcceptance {

    /** One client system: its SDK configuration and, in "long" mode, its one service object. */
    static final class Party {
        final String name;
        final String organId;
        final VnptProperties properties;
        final boolean fresh;
        KnobstickServiceImp knobstick;
        AgencyServiceImp agency;

        Party(String name, String endpoint, String systemId, String secret, String organId,
              File store, boolean fresh) {
            this.name = name;
            this.organId = organId;
            this.fresh = fresh;
            // The 6-argument constructor of the vendor's ServiceTest (maxConnection 10, retry 3).
            this.properties = new VnptProperties(endpoint, systemId, secret, store.getPath(),
                                                 10, 3);
        }

        KnobstickServiceImp knobstick() {
            if (fresh || knobstick == null) knobstick = new KnobstickServiceImp(properties);
            return knobstick;
        }

        AgencyServiceImp agency() {
            if (fresh || agency == null) agency = new AgencyServiceImp(properties);
            return agency;
        }
    }

    private final String mode;
    private final PrintStream report;
    private final OutputStream sdkLog;
    private int passed;
    private int failed;

    SdkAcceptance(String mode, PrintStream report, OutputStream sdkLog) {
        this.mode = mode;
        this.report = report;
        this.sdkLog = sdkLog;
    }

    /** Thrown to stop the scenario when a step cannot go on (its failure is already reported). */
    static final class Stop extends RuntimeException {
        Stop(String message) { super(message); }
    }

    void pass(String step, String detail) {
        passed++;
        report.println("PASS " + mode + " " + step + ": " + detail);
    }

    void fail(String step, String detail) {
        failed++;
        report.println("FAIL " + mode + " " + step + ": " + detail);
    }

    void check(String step, boolean ok, String detail) {
        if (ok) pass(step, detail); else fail(step, detail);
    }

    Stop stop(String step, String detail) {
        fail(step, detail);
        return new Stop(step);
    }

    /** Run one SDK call with its stdout/stderr captured; stderr output = a swallowed exception. */
    <T> T sdk(String step, Supplier<T> call) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream chatter = new ByteArrayOutputStream();
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        T result;
        try {
            System.setOut(new PrintStream(chatter, true, "UTF-8"));
            System.setErr(new PrintStream(errors, true, "UTF-8"));
            result = call.get();
        } catch (java.io.UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
        } catch (RuntimeException e) {
            System.setOut(out);
            System.setErr(err);
            throw stop(step, "the SDK threw " + e);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        try {
            sdkLog.write(("===== " + mode + " " + step + "\n").getBytes(StandardCharsets.UTF_8));
            chatter.writeTo(sdkLog);
            errors.writeTo(sdkLog);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        String swallowed = new String(errors.toByteArray(), StandardCharsets.UTF_8).trim();
        if (!swallowed.isEmpty()) {
            String[] lines = swallowed.split("\\R");
            StringBuilder first = new StringBuilder(lines[0]);
            for (int i = 1; i < Math.min(3, lines.length); i++) {
                first.append(" | ").append(lines[i]);
            }
            throw stop(step, "the SDK swallowed an exception: " + first);
        }
        return result;
    }

    /** The SDK reports success as status OK with ErrorCode "0" (ServiceTest tests "OK"). */
    void succeeded(String step, BasicResult result, String what) {
        if (result == null) {
            throw stop(step, "the SDK returned null (it could not use the answer)");
        }
        if (!"OK".equals(result.getStatus()) || !"0".equals(result.getErrorCode())) {
            throw stop(step, "status=" + result.getStatus() + " ErrorCode=" + result.getErrorCode()
                       + " ErrorDesc=" + result.getErrorDesc());
        }
        pass(step, what);
    }

    static String sendHeader(String from, String messageType, String to) {
        String json = "{\"from\":\"" + from + "\",\"servicetype\":\"eDoc\",\"messagetype\":\""
                + messageType + "\"";
        return (to == null ? json : json + ",\"to\":[\"" + to + "\"]") + "}";
    }

    static String listHeader(String messageType) {
        return "{\"servicetype\":\"eDoc\",\"messagetype\":\"" + messageType + "\"}";
    }

    // --- the scenario's steps ------------------------------------------------------------

    String send(String step, Party from, String messageType, String to, File packet) {
        SendEdocResult r = sdk(step, () -> from.knobstick().sendEdoc(
                sendHeader(from.organId, messageType, to), packet.getPath()));
        succeeded(step, r, "DocId " + (r == null ? "" : r.getDocID()));
        if (r.getDocID() == null || r.getDocID().isEmpty()) throw stop(step, "no DocId");
        return r.getDocID();
    }

    List<Knobstick> listed(String step, Party who, String messageType) {
        GetReceivedEdocResult r = sdk(step, () -> who.knobstick().getReceivedEdocList(
                listHeader(messageType)));
        if (r != null && r.getKnobsticks() == null && "0".equals(r.getErrorCode())) {
            throw stop(step, "success without a list: the SDK dropped the data array");
        }
        succeeded(step, r, (r == null ? 0 : r.getKnobsticks().size()) + " listed");
        return r.getKnobsticks();
    }

    String fetch(String step, Party who, String docId, File folder) {
        String header = "{\"filePath\":\"" + folder.getPath() + "\",\"docId\":\"" + docId + "\"}";
        GetEdocResult r = sdk(step, () -> who.knobstick().getEdoc(header));
        succeeded(step, r, "docId " + docId);
        if (r.getData() == null) throw stop(step, "no data");
        return r.getData();
    }

    /**
     * The receive loop of an integration: list, fetch each item from the sender, keep the ones
     * whose bytes are packets we sent (others on the axis are left alone), acknowledge each kept
     * one "done" right after fetching it. Returns the axis docIds, in the order of packets.
     */
    List<String> receive(String step, Party who, Party sender, String messageType,
                         List<byte[]> packets, File folder) {
        List<String> expected = new ArrayList<>();
        for (byte[] packet : packets) expected.add(new String(packet, StandardCharsets.UTF_8));
        String[] ids = new String[packets.size()];
        int found = 0;
        for (Knobstick k : listed(step + ".getReceivedEdocList", who, messageType)) {
            if (!sender.organId.equals(k.getFrom()) || !messageType.equals(k.getMessageType())) {
                continue;
            }
            String data = fetch(step + ".getEdoc", who, k.getId(), folder);
            int i = expected.indexOf(data);
            if (i < 0 || ids[i] != null) continue;
            ids[i] = k.getId();
            found++;
            byte[] packet = packets.get(i);
            pass(step + ".getEdoc.data", "packet " + (i + 1) + " fetched as sent ("
                 + packet.length + " bytes)");
            File saved = new File(folder, String.join(File.separator, savedPath(k.getId())));
            check(step + ".getEdoc.file", fileEquals(saved, packet),
                  "the SDK saved it byte for byte (" + saved + ")");
            check(step + ".listed.to", who.organId.equals(k.getTo()),
                  "to=" + k.getTo() + " created_time=" + k.getCreatedTime());
            acknowledge(step + ".updateStatus", who, k.getId());
        }
        if (found != packets.size()) {
            throw stop(step, found + " of " + packets.size() + " " + messageType + " packets from "
                       + sender.organId + " were listed and fetched as sent");
        }
        return java.util.Arrays.asList(ids);
    }

    /** Where KnobstickServiceImp.getEdoc writes the packet: FOLDER/yyyy/M/docId.edxml. */
    static String[] savedPath(String docId) {
        java.util.Calendar now = java.util.Calendar.getInstance();
        return new String[] {String.valueOf(now.get(java.util.Calendar.YEAR)),
                             String.valueOf(now.get(java.util.Calendar.MONTH) + 1),
                             docId + ".edxml"};
    }

    static boolean fileEquals(File file, byte[] expected) {
        try {
            return java.util.Arrays.equals(Files.readAllBytes(file.toPath()), expected);
        } catch (IOException e) {
            return false;
        }
    }

    void acknowledge(String step, Party who, String docId) {
        // fresh: as the vendor's ServiceTest writes it (docId, its value without quotes: Gson
        // is lenient). long: as an integration in production writes it with one long-lived
        // object (org.json, "docid"), so the object signs both spellings from then on.
        String header = who.fresh ? "{\"status\":\"done\",\"docId\":" + docId + "}"
                : "{\"docid\":\"" + docId + "\",\"status\":\"done\"}";
        GetChangeStatusResult r = sdk(step, () -> who.knobstick().updateStatus(header));
        succeeded(step, r, "done for " + docId);
    }

    int count(String step, Party who, boolean status) {
        CountReceiveEdoc r = sdk(step, () -> status
                ? who.knobstick().countReceiveStatus("{}")
                : who.knobstick().countReceiveEdoc("{}"));
        succeeded(step, r, "count " + (r == null ? "" : r.getCount()));
        return r.getCount();
    }

    StatusResult progress(String step, Party sender, String messageType, String docId,
                          String recipient) {
        String header = "{\"servicetype\":\"eDoc\",\"messagetype\":\"" + messageType
                + "\",\"docId\":\"" + docId + "\"}";
        GetSendEdocResult r = sdk(step, () -> sender.knobstick().getSentEdocList(header));
        if (r != null && r.getStatusResult() == null && "0".equals(r.getErrorCode())) {
            throw stop(step, "success without a list: the SDK dropped the data array");
        }
        succeeded(step, r, (r == null ? 0 : r.getStatusResult().size()) + " row(s)");
        for (StatusResult row : r.getStatusResult()) {
            if (recipient.equals(row.getToCode()) && docId.equals(row.getSenderDocId())) return row;
        }
        throw stop(step, "no row for recipient " + recipient + " of " + docId);
    }

    void agencies(String step, Party who, String... expected) {
        GetAgenciesResult r = sdk(step, () -> who.agency().getAgenciesList("{}"));
        if (r != null && r.getAgencies() == null && "0".equals(r.getErrorCode())) {
            throw stop(step, "success without a list: the SDK dropped the data array");
        }
        succeeded(step, r, (r == null ? 0 : r.getAgencies().size()) + " agencies");
        List<String> codes = new ArrayList<>();
        for (Agency agency : r.getAgencies()) codes.add(agency.getCode());
        for (String organ : expected) {
            check(step + ".contains", codes.contains(organ), organ + " in " + codes);
        }
    }

    void scenario(Party a, Party b, File packets, File work) throws IOException {
        List<byte[]> edocs = new ArrayList<>();
        edocs.add(Files.readAllBytes(new File(packets, "edoc-1.edxml").toPath()));
        edocs.add(Files.readAllBytes(new File(packets, "edoc-2.edxml").toPath()));
        byte[] status = Files.readAllBytes(new File(packets, "status.edxml").toPath());
        File storeA = new File(work, mode + "-A");
        File storeB = new File(work, mode + "-B");

        int before = count("B.countReceiveEdoc.before", b, false);
        // the first with "to" as a JSON array, the second without (the axis reads the packet)
        String sent1 = send("A.sendEdoc.edoc1", a, "edoc", b.organId,
                            new File(packets, "edoc-1.edxml"));
        String sent2 = send("A.sendEdoc.edoc2", a, "edoc", null,
                            new File(packets, "edoc-2.edxml"));
        StatusResult row = progress("A.getSentEdocList.pending", a, "edoc", sent1, b.organId);
        check("A.getSentEdocList.pending.state", "pending".equals(row.getReceiveStatus()),
              "B's copy of edoc1: receiveStatus=" + row.getReceiveStatus());
        int waiting = count("B.countReceiveEdoc", b, false);
        check("B.countReceiveEdoc.value", waiting == before + 2, before + " -> " + waiting);

        List<String> copies = receive("B.receive.edoc", b, a, "edoc", edocs, storeB);
        check("B.countReceiveEdoc.after", count("B.countReceiveEdoc.after.call", b, false)
              == waiting - 2, "two fewer waiting after done");
        List<String> still = new ArrayList<>();
        for (Knobstick k : listed("B.getReceivedEdocList.after", b, "edoc")) {
            if (copies.contains(k.getId())) still.add(k.getId());
        }
        check("B.getReceivedEdocList.after.gone", still.isEmpty(),
              "the acknowledged copies are not listed " + still);

        String[] sent = {sent1, sent2};
        for (int i = 0; i < 2; i++) {
            row = progress("A.getSentEdocList.done" + (i + 1), a, "edoc", sent[i], b.organId);
            check("A.getSentEdocList.done" + (i + 1) + ".state",
                  "done".equals(row.getReceiveStatus())
                  && copies.get(i).equals(row.getReceiverDocId()),
                  "B's copy " + row.getReceiverDocId() + ": receiveStatus=" + row.getReceiveStatus()
                  + " receivedTime=" + row.getReceivedTime());
        }

        // The status goes back without "to" (as in the vendor's example): the axis routes it by
        // the packet's ResponseFor.
        int statusBefore = count("A.countReceiveStatus.before", a, true);
        String statusSent = send("B.sendEdoc.status", b, "status", null,
                                 new File(packets, "status.edxml"));
        check("A.countReceiveStatus.value", count("A.countReceiveStatus", a, true)
              == statusBefore + 1, "one status waiting for A");
        receive("A.receive.status", a, b, "status", java.util.Collections.singletonList(status),
                storeA);
        row = progress("B.getSentEdocList.status", b, "status", statusSent, a.organId);
        check("B.getSentEdocList.status.state", "done".equals(row.getReceiveStatus()),
              "A's copy: receiveStatus=" + row.getReceiveStatus());

        agencies("A.getAgenciesList", a, a.organId, b.organId);
        agencies("B.getAgenciesList", b, a.organId, b.organId);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 8 || !(args[0].equals("fresh") || args[0].equals("long"))) {
            System.err.println("usage: SdkAcceptance fresh|long ENDPOINT SYS_A ORGAN_A SYS_B"
                               + " ORGAN_B PACKETS WORKDIR  (secrets in $SDK_ACCEPT_SECRET_A/_B)");
            System.exit(2);
        }
        String mode = args[0];
        String secretA = System.getenv("SDK_ACCEPT_SECRET_A");
        String secretB = System.getenv("SDK_ACCEPT_SECRET_B");
        if (secretA == null || secretB == null) {
            System.err.println("SDK_ACCEPT_SECRET_A and SDK_ACCEPT_SECRET_B must be set");
            System.exit(2);
        }
        File work = new File(args[7]);
        work.mkdirs();
        boolean fresh = mode.equals("fresh");
        Party a = new Party("A", args[1], args[2], secretA, args[3], new File(work, "store-A"),
                            fresh);
        Party b = new Party("B", args[1], args[4], secretB, args[5], new File(work, "store-B"),
                            fresh);
        SdkAcceptance run;
        try (OutputStream log = new FileOutputStream(new File(work, "sdk-" + mode + ".log"))) {
            run = new SdkAcceptance(mode, System.out, log);
            try {
                run.scenario(a, b, new File(args[6]), work);
            } catch (Stop stop) {
                run.report.println("STOPPED " + mode + " at " + stop.getMessage());
            }
        }
        run.report.println("SUMMARY " + mode + " " + run.passed + " passed, " + run.failed
                           + " failed");
        System.exit(run.failed == 0 && run.passed > 0 ? 0 : 1);
    }
}


/** Run before {@link SdkAcceptance} (which cannot even load without them): are the SDK and the
 *  jars it imports on the classpath? Names what is missing; exit 2 if anything is. */
final class SdkClasspath {
    public static void main(String[] args) {
        // What the SDK needs on the classpath besides its own jar (its imports).
        String[][] needed = {
            {"com.vpcp.services.KnobstickServiceImp", "SDKVXP-2.0.1.jar"},
            {"com.google.gson.JsonParser", "gson"},
            {"org.apache.commons.codec.binary.Hex", "commons-codec"},
            {"org.apache.http.impl.client.HttpClients", "httpclient"},
            {"org.apache.http.HttpEntity", "httpcore"},
            {"org.apache.http.entity.mime.MultipartEntityBuilder", "httpmime"},
            {"org.apache.commons.logging.LogFactory", "commons-logging"},
            {"com.google.common.io.Files", "guava"},
        };
        StringBuilder missing = new StringBuilder();
        for (String[] n : needed) {
            try {
                Class.forName(n[0], false, SdkClasspath.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                missing.append(' ').append(n[1]);
            }
        }
        if (missing.length() > 0) {
            System.err.println("missing on the classpath (jars):" + missing);
            System.exit(2);
        }
    }
}
