package catalogue.devtools;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathPluginsNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs one local, single-node Elasticsearch for development and tests until SIGTERM (or SIGINT).
 *
 * <pre>
 * java -Xms512m -Xmx1g -cp 'es-launcher.jar:lib/*' catalogue.devtools.EsLauncher \
 *     --home DIR [--port 59200] [--transport-port PORT] [-Ekey=value ...]
 * </pre>
 *
 * HTTP listens on 127.0.0.1:port, transport on 127.0.0.1 too (by default the first free port in
 * port+100..port+199). Data lives in DIR/data; settings in DIR/config/elasticsearch.yml, if present,
 * and -E options override the defaults below. There is no security (no x-pack on the classpath), so
 * it must stay on loopback. Prints one line when the node is started, with the time since the JVM
 * started.
 */
public final class EsLauncher {
    private EsLauncher() {
    }

    public static void main(String[] args) throws Exception {
        Path home = null;
        int httpPort = 59200;
        Integer transportPort = null;
        Settings.Builder extra = Settings.builder();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--home" -> home = Path.of(value(args, ++i, arg));
                case "--port" -> httpPort = Integer.parseInt(value(args, ++i, arg));
                case "--transport-port" -> transportPort = Integer.parseInt(value(args, ++i, arg));
                default -> {
                    if (arg.startsWith("-E") && arg.indexOf('=') > 2) {
                        int eq = arg.indexOf('=');
                        extra.put(arg.substring(2, eq), arg.substring(eq + 1));
                    } else {
                        usage("unknown argument: " + arg);
                    }
                }
            }
        }
        if (home == null) {
            usage("--home is required");
        }
        home = home.toAbsolutePath().normalize();
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(home.resolve("config"));

        configureLogging();

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "catalogue-dev")
            .put("node.name", "catalogue-dev")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort != null ? String.valueOf(transportPort) : (httpPort + 100) + "-" + (httpPort + 199))
            // a developer machine's nearly full disk must not turn the indices read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put(extra.build())
            .build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "catalogue-dev");

        Map<String, Plugin> plugins = new LinkedHashMap<>();
        plugins.put("transport-netty4", new Netty4Plugin()); // HTTP and transport
        plugins.put("catalogue-rest-root", new RootInfoPlugin()); // GET / and HEAD /
        Node node;
        try {
            node = new ClasspathPluginsNode(environment, plugins);
        } catch (Throwable e) {
            fail(e);
            return;
        }

        // Registered before start() so that a SIGTERM during start-up still closes the node.
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("elasticsearch stopping");
            try {
                node.prepareForClose();
                node.close();
                if (node.awaitClose(30, TimeUnit.SECONDS) == false) {
                    System.out.println("elasticsearch did not close within 30 s");
                }
            } catch (Exception e) {
                System.err.println("elasticsearch failed to close cleanly: " + e);
            } finally {
                System.out.println("elasticsearch stopped");
                System.out.flush();
                stopped.countDown();
            }
        }, "es-launcher-shutdown"));

        try {
            node.start();
        } catch (Throwable e) {
            fail(e);
            return;
        }

        double seconds = ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0;
        System.out.printf(Locale.ROOT, "elasticsearch %s started in %.1f s on http://127.0.0.1:%d (home %s, pid %d)%n",
            Build.current().version(), seconds, httpPort, home, ProcessHandle.current().pid());
        System.out.flush();
        stopped.await(); // until the shutdown hook (SIGTERM / SIGINT) has closed the node
    }

    /**
     * Log4j 2 at WARN to the console (the launcher's stdout, which es_server.py sends to
     * HOME/logs/launcher.log), from es-launcher-log4j2.properties in this jar unless
     * -Dlog4j2.configurationFile says otherwise. Log4j's own shutdown hook is off so that the
     * node can still log while it closes in ours.
     */
    private static void configureLogging() {
        System.setProperty("log4j.shutdownHookEnabled", "false");
        System.setProperty("log4j2.disable.jmx", "true");
        if (System.getProperty("log4j2.configurationFile") == null) {
            System.setProperty("log4j2.configurationFile", "classpath:es-launcher-log4j2.properties");
        }
        LogConfigurator.configureESLogging(); // routes org.elasticsearch.logging to log4j
    }

    private static void fail(Throwable e) {
        System.err.println("elasticsearch failed to start: " + e);
        e.printStackTrace();
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(1); // neither wait for the node's threads nor run the shutdown hook
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            usage(option + " needs a value");
        }
        return args[i];
    }

    private static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: EsLauncher --home DIR [--port 59200] [--transport-port PORT] [-Ekey=value ...]");
        System.exit(2);
    }
}
