//! gRPC channels to every service, each call bounded by the gateway's upstream deadline.

use std::{collections::HashMap, time::Duration};

use svc_kit::{ServiceName, Settings, tls::Tls};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::GatewayConfig;

#[derive(Debug, thiserror::Error)]
#[error("invalid endpoint for service {service}: {reason}")]
pub struct EndpointError {
    service: ServiceName,
    reason: String,
}

/// One lazily connected channel per service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct ServiceClients {
    channels: HashMap<ServiceName, Channel>,
}

impl ServiceClients {
    /// Channels to the endpoints the settings name, connected on first use.
    pub fn from_settings(
        settings: &Settings,
        config: &GatewayConfig,
        tls: &Tls,
    ) -> Result<ServiceClients, EndpointError> {
        let endpoints = ServiceName::ALL.map(|s| (s, settings.endpoint(s)));
        ServiceClients::new(endpoints, config, tls)
    }

    /// `https://` endpoints speak TLS with `tls` (its authority, and its certificate for
    /// services that require one); `http://` ones are plain.
    pub fn new(
        endpoints: impl IntoIterator<Item = (ServiceName, String)>,
        config: &GatewayConfig,
        tls: &Tls,
    ) -> Result<ServiceClients, EndpointError> {
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        let timeout = Duration::from_millis(config.upstream_timeout_ms);
        let mut channels = HashMap::new();
        for (service, url) in endpoints {
            let endpoint = tls
                .endpoint(&url)
                .map_err(|reason| EndpointError { service, reason })?
                .connect_timeout(connect_timeout)
                .timeout(timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            channels.insert(service, endpoint.connect_lazy());
        }
        Ok(ServiceClients { channels })
    }

    pub fn channel(&self, service: ServiceName) -> Channel {
        self.channels[&service].clone()
    }

    /// Asks `service` over `grpc.health.v1` whether its API is serving.
    pub async fn health(&self, service: ServiceName) -> Result<ServingStatus, tonic::Status> {
        let mut client = HealthClient::new(self.channel(service));
        let name = service_api_name(service);
        let response = client
            .check(HealthCheckRequest {
                service: name.to_string(),
            })
            .await?;
        Ok(response.into_inner().status())
    }
}

/// The fully qualified gRPC service name of a MedMesh service's API.
pub fn service_api_name(service: ServiceName) -> &'static str {
    match service {
        ServiceName::Accounts => "medmesh.accounts.v1.AccountsService",
        ServiceName::Scheduling => "medmesh.scheduling.v1.SchedulingService",
        ServiceName::Pharmacy => "medmesh.pharmacy.v1.PharmacyService",
        ServiceName::Records => "medmesh.records.v1.RecordsService",
        ServiceName::Notify => "medmesh.notify.v1.NotifyService",
    }
}
