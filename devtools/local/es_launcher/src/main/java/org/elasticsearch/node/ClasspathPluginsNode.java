package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collections;
import java.util.Map;

/**
 * An Elasticsearch {@link Node} whose plugins (e.g. the Netty4 HTTP/transport plugin) are instances
 * created from classes on the classpath.
 *
 * <p>Lives in {@code org.elasticsearch.node} because {@link NodeServiceProvider} and
 * {@link NodeConstruction#prepareConstruction} are package-private: they are the hook Elasticsearch itself uses
 * to build nodes for its tests.
 */
public final class ClasspathPluginsNode extends Node {

    /**
     * @param plugins plugin instances by name, in the order the node should see them
     */
    public ClasspathPluginsNode(Environment environment, Map<String, Plugin> plugins) {
        super(
            NodeConstruction.prepareConstruction(
                environment,
                PluginsLoader.createPluginsLoader(Collections.emptySet(), Collections.emptySet(), Map.of(), false),
                new ServiceProvider(plugins),
                true // forbid private index settings, as a production node does
            )
        );
    }

    private static final class ServiceProvider extends NodeServiceProvider {
        private final Map<String, Plugin> plugins;

        ServiceProvider(Map<String, Plugin> plugins) {
            this.plugins = plugins;
        }

        @Override
        PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
            return new ClasspathPluginsService(environment.settings(), plugins);
        }
    }
}
