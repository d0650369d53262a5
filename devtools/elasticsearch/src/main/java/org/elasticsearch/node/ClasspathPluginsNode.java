package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collections;
import java.util.List;
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

    public ClasspathPluginsNode(Environment environment, List<Plugin> plugins) {
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
        private final List<Plugin> plugins;

        ServiceProvider(List<Plugin> plugins) {
            this.plugins = List.copyOf(plugins);
        }

        @Override
        PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
            return new ClasspathPluginsService(environment.settings(), plugins);
        }
    }
}
