package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A {@link PluginsService} whose plugins are plain objects already on the application classpath,
 * instead of plugin bundles unpacked under {@code modules/} and {@code plugins/}.
 *
 * <p>Lives in {@code org.elasticsearch.plugins} because {@link PluginsService.LoadedPlugin}'s
 * constructor is package-private. Every public accessor of {@link PluginsService}
 * ({@code filterPlugins}, {@code pluginMap}, {@code map}, ...) goes through the overridable
 * {@link #plugins()}, which is what makes this subclass work.
 */
public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> loaded;
    private final PluginsAndModules info;

    /**
     * @param plugins plugin instances by the name under which {@code GET _nodes/plugins} lists them (as modules)
     */
    public ClasspathPluginsService(Settings settings, Map<String, Plugin> plugins) {
        // An empty loader: the superclass finds no bundles, so it does no jar-hell or module-layer work.
        super(settings, null, PluginsLoader.createPluginsLoader(Collections.emptySet(), Collections.emptySet(), Map.of(), false));
        ClassLoader loader = ClasspathPluginsService.class.getClassLoader();
        this.loaded = plugins.entrySet()
            .stream()
            .map(entry -> new LoadedPlugin(describe(entry.getKey(), entry.getValue()), entry.getValue(), loader))
            .toList();
        // reported by GET _nodes/plugins as modules, like the Netty4 module of a distribution
        this.info = new PluginsAndModules(List.of(), loaded.stream().map(LoadedPlugin::descriptor).toList());
    }

    private static PluginDescriptor describe(String name, Plugin plugin) {
        String className = plugin.getClass().getName();
        return new PluginDescriptor(
            name,                            // name
            "loaded from the classpath",     // description
            Build.current().version(),       // plugin version
            Build.current().version(),       // elasticsearch version
            Integer.toString(Runtime.version().feature()), // java version
            className,                       // class name
            null,                            // module name (classpath, not a module layer)
            List.of(),                       // extended plugins
            false,                           // has native controller
            false,                           // licensed
            false,                           // modular
            false                            // stable plugin API
        );
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }

    @Override
    public PluginsAndModules info() {
        return info;
    }
}
