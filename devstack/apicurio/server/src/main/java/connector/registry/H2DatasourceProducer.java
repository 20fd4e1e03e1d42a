package connector.registry;

import io.agroal.api.AgroalDataSource;
import io.quarkus.agroal.DataSource;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Named;

/**
 * Stands in for Apicurio's RegistryDatasourceProducer (excluded in application.properties): that one injects every
 * named datasource, and the newer Quarkus this server is built with refuses to inject the inactive ones. The local
 * registry only ever keeps its schemas in the in-memory H2 database.
 */
@ApplicationScoped
public class H2DatasourceProducer {
    @Inject
    @DataSource("h2")
    AgroalDataSource h2Datasource;

    @Produces
    @ApplicationScoped
    @Named("application")
    public AgroalDataSource produceDatasource() {
        return h2Datasource;
    }
}
