//! `medmesh`: run the platform. See `medmesh --help`.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use medmesh::{Component, Platform};
use svc_kit::{
    ServiceName, Settings,
    config::{ConfigError, EXIT_CONFIG, Mode},
};

#[derive(Debug, Parser)]
#[command(
    name = "medmesh",
    version,
    about = "MedMesh: clinics, prescriptions and patient records over a gRPC mesh"
)]
struct Cli {
    /// A TOML file layered over the defaults (env MEDMESH_* variables override it).
    #[arg(long, global = true, env = "MEDMESH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything in one process on embedded defaults: SQLite, in-process bus and cache.
    Dev {
        /// Where the SQLite files live (default: .medmesh-dev).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// One component: accounts, scheduling, pharmacy, records, notify or gateway (and, in
    /// builds with the development issuer, `dev-issuer` alone: a stand-in for Keycloak in
    /// test deployments, dev mode only).
    Serve { component: String },
    /// Apply database migrations of one service, or of all.
    Migrate { service: String },
    /// Check the configuration `serve <component>` would run with, and exit (64 if wrong).
    CheckConfig { component: String },
    /// Exit 0 when the process on this configuration's admin port is ready (a container's
    /// healthcheck: `/ready`), 1 when not.
    Probe {
        /// The admin path to ask: /ready or /live.
        #[arg(long, default_value = "/ready")]
        path: String,
        /// Ask this address instead of the configured admin port.
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
    /// Seed the demo data through the running services, signed in at `auth.issuer` as the demo
    /// users (a development issuer); waits for the services, does nothing if there is data.
    SeedDemo {
        /// How long to wait for the services to answer, in seconds.
        #[arg(long, default_value_t = 300)]
        wait_secs: u64,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Walk records' access log and name the first broken link (exit code 1 if there is one).
    VerifyAccessLog {
        /// Only this patient's chain.
        #[arg(long)]
        patient: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print_schema();
        return ExitCode::SUCCESS;
    }
    let settings = match load_settings(&cli) {
        Ok(settings) => settings,
        Err(error) => return config_failure(error),
    };
    svc_kit::telemetry::init_tracing(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("medmesh: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command, settings))
}

/// `medmesh verify-access-log`: the integrity report of records' access log, on stdout.
async fn verify_access_log(settings: &Settings, patient: Option<&str>) -> ExitCode {
    // Connected as it is, never migrated: a wrong address must not read as an intact log.
    let url = match settings.database_url(ServiceName::Records) {
        Ok(url) => url,
        Err(error) => return config_failure(error),
    };
    let db = match svc_kit::db::connect(&url, &settings.database).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("medmesh: could not open records' database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = svc_records::verify_access_log(&db, patient).await;
    db.close().await.ok();
    match report {
        Ok(report) => {
            #[allow(clippy::print_stdout)]
            {
                println!(
                    "{} chains, {} entries checked",
                    report.chains_checked, report.entries_checked
                );
                match report.first_broken {
                    None => println!("intact"),
                    Some(broken) => println!(
                        "BROKEN: patient {} at sequence {}: {}",
                        broken.patient_id, broken.sequence, broken.problem
                    ),
                }
            }
            if report.intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("medmesh: could not verify the access log: {error}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let mut figment = Settings::figment_checked(cli.config.as_deref())?;
    if let Command::Dev {
        data_dir: Some(dir),
    } = &cli.command
    {
        figment = figment.merge(("data_dir", dir));
    }
    Settings::from_figment(figment)
}

fn config_failure(error: ConfigError) -> ExitCode {
    eprintln!("medmesh: {error}");
    ExitCode::from(EXIT_CONFIG as u8)
}

async fn run(command: Command, settings: Settings) -> ExitCode {
    let components = match &command {
        Command::Dev { .. } => {
            if settings.mode != Mode::Dev {
                return config_failure_msg("`mode`: medmesh dev runs only in mode = \"dev\"");
            }
            Platform::all_components()
        }
        Command::Serve { component } if !settings.mode_is_explicit() => {
            if component != "dev-issuer" && Component::parse(component).is_none() {
                return usage(&format!("unknown component {component:?}"));
            }
            return config_failure_msg(
                "`mode`: `medmesh serve` runs nothing on the default; set MEDMESH_MODE=production (or dev, for a development process)",
            );
        }
        Command::Serve { component } if component == "dev-issuer" => {
            return serve_dev_issuer(&settings).await;
        }
        Command::Serve { component } => match Component::parse(component) {
            Some(Component::Service(name)) => {
                if let Err(error) = medmesh::check_service(&settings, name) {
                    return config_failure(error);
                }
                vec![Component::Service(name)]
            }
            Some(Component::Gateway) => vec![Component::Gateway],
            None => {
                return usage(&format!(
                    "unknown component {component:?}; expected accounts, scheduling, pharmacy, records, notify or gateway"
                ));
            }
        },
        Command::Migrate { service } => return migrate(&settings, service).await,
        Command::CheckConfig { component } => return check_config(&settings, component),
        Command::Probe { path, addr } => return probe(&settings, *addr, path),
        Command::SeedDemo { wait_secs } => return seed_demo(&settings, *wait_secs).await,
        Command::VerifyAccessLog { patient } => {
            return verify_access_log(&settings, patient.as_deref()).await;
        }
        Command::Schema => return ExitCode::SUCCESS,
    };

    let platform = match Platform::start(settings.clone(), &components).await {
        Ok(platform) => platform,
        Err(
            medmesh::StartError::Kit(svc_kit::runtime::KitError::Config(error))
            | medmesh::StartError::Config(error),
        ) => {
            return config_failure(error);
        }
        Err(error) => {
            eprintln!("medmesh: could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    if matches!(command, Command::Dev { .. }) {
        let demo = match medmesh::demo::seed(&platform).await {
            Ok(demo) => demo,
            Err(status) => {
                tracing::warn!(code = ?status.code(), "demo data could not be seeded");
                None
            }
        };
        print_dev_banner(&settings, &platform, demo.as_ref());
    }
    let signal = svc_kit::shutdown::on_signal();
    let token = platform.shutdown_token();
    tokio::spawn(async move {
        signal.cancelled().await;
        token.cancel();
    });
    platform.run_until_stopped().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// `medmesh serve dev-issuer`: only the development issuer, until SIGTERM.
async fn serve_dev_issuer(settings: &Settings) -> ExitCode {
    let shutdown = svc_kit::shutdown::on_signal();
    let mut tasks = Vec::new();
    match medmesh::dev_sso::start(settings, shutdown.clone(), &mut tasks).await {
        Ok((issuer, _)) => tracing::info!(%issuer, "development issuer serving (DEV ONLY)"),
        Err(error) => return config_failure(error),
    }
    for task in tasks {
        let _ = task.await;
    }
    ExitCode::SUCCESS
}

/// `medmesh check-config <component>`: everything `serve` checks before it binds a port.
fn check_config(settings: &Settings, component: &str) -> ExitCode {
    if !settings.mode_is_explicit() && component != "seed-demo" {
        return config_failure_msg(
            "`mode`: `medmesh serve` runs nothing on the default; set MEDMESH_MODE=production (or dev, for a development process)",
        );
    }
    let checked = match component {
        "dev-issuer" if !cfg!(feature = "dev") => Err(ConfigError::new(
            "this build has no development issuer (feature `dev`)",
        )),
        "dev-issuer" if settings.mode == Mode::Dev => Ok(()),
        "dev-issuer" => Err(ConfigError::new(
            "the development OIDC issuer runs only in mode = \"dev\"",
        )),
        "seed-demo" => {
            settings
                .check_sections(&medmesh::PART_SECTIONS)
                .and_then(|()| match settings.auth.issuer.as_deref() {
                    Some(issuer) if !issuer.is_empty() => Ok(()),
                    _ => Err(ConfigError::key(
                        "auth.issuer",
                        "is required: the demo users sign in there",
                    )),
                })
        }
        other => match Component::parse(other) {
            Some(component) => Platform::validate(settings, &[component]).map(|_| ()),
            None => {
                return usage(&format!(
                    "unknown component {other:?}; expected accounts, scheduling, pharmacy, records, notify, gateway, dev-issuer or seed-demo"
                ));
            }
        },
    };
    match checked {
        Ok(()) => {
            write_stdout(&format!("{component}: configuration ok\n"));
            ExitCode::SUCCESS
        }
        Err(error) => config_failure(error),
    }
}

/// `medmesh probe`: asks this process's admin port (or `addr`), on loopback, for `path`.
fn probe(settings: &Settings, addr: Option<std::net::SocketAddr>, path: &str) -> ExitCode {
    use std::io::{Read as _, Write as _};
    let mut addr = addr.unwrap_or_else(|| settings.admin.addr());
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(2);
    let answer = std::net::TcpStream::connect_timeout(&addr, timeout).and_then(|mut stream| {
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head)
    });
    match answer {
        Ok(head) if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" => ExitCode::SUCCESS,
        Ok(head) => {
            eprintln!(
                "medmesh: {addr}{path} answered {}",
                String::from_utf8_lossy(&head)
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("medmesh: {addr}{path}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `medmesh seed-demo`: the demo data, through the services at their endpoints.
async fn seed_demo(settings: &Settings, wait_secs: u64) -> ExitCode {
    // The process's TLS before the first HTTPS or gRPC client (the issuer's token endpoint).
    match svc_kit::tls::Tls::load(&settings.tls) {
        Ok(tls) => svc_kit::tls::install(&tls),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(64);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    let mut pause = std::time::Duration::from_millis(500);
    loop {
        // Every service serving first: a seeding cut short part-way is replayed, not redone.
        let attempt = match all_serving(settings).await {
            Err(error) => Err(error),
            Ok(()) => match medmesh::demo::Reach::remote(settings).await {
                Ok(reach) => medmesh::demo::seed_with(&reach)
                    .await
                    .map_err(|status| format!("{:?}: {}", status.code(), status.message())),
                Err(error) => Err(error),
            },
        };
        match attempt {
            Ok(demo) => {
                write_stdout(&format!(
                    "demo data in place: {} (doctor {})\n",
                    demo.clinic, demo.doctor_id
                ));
                return ExitCode::SUCCESS;
            }
            Err(error) if std::time::Instant::now() < deadline => {
                tracing::info!(%error, "demo data not seeded yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(error) => {
                eprintln!("medmesh: could not seed the demo data: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Whether every service answers `grpc.health.v1` as serving at its endpoint.
async fn all_serving(settings: &Settings) -> Result<(), String> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    for service in ServiceName::ALL {
        let endpoint = settings.endpoint(service);
        let tls = svc_kit::tls::Tls::load(&settings.tls).map_err(|e| e.to_string())?;
        let channel = tls
            .endpoint(&endpoint)
            .map_err(|e| format!("services.{service}.endpoint {endpoint:?}: {e}"))?
            .connect_timeout(std::time::Duration::from_secs(2))
            .timeout(std::time::Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| format!("{service} at {endpoint}: {e}"))?;
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .map_err(|e| format!("{service} at {endpoint}: {}", e.message()))?
            .into_inner()
            .status;
        if status != tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            return Err(format!("{service} at {endpoint} is not serving yet"));
        }
    }
    Ok(())
}

async fn migrate(settings: &Settings, service: &str) -> ExitCode {
    if let Err(error) = settings.check_sections(&medmesh::PART_SECTIONS) {
        return config_failure(error);
    }
    let names: Vec<ServiceName> = match service {
        "all" => ServiceName::ALL.to_vec(),
        other => match ServiceName::parse(other) {
            Some(name) => vec![name],
            None => {
                return usage(&format!(
                    "unknown service {other:?}; expected a service name or all"
                ));
            }
        },
    };
    for name in names {
        if let Err(error) = medmesh::check_service(settings, name) {
            return config_failure(error);
        }
        if let Err(error) = medmesh::migrate(settings, name).await {
            eprintln!("medmesh: migrating {name} failed: {error}");
            return ExitCode::FAILURE;
        }
        tracing::info!(service = %name, "migrations applied");
    }
    ExitCode::SUCCESS
}

fn config_failure_msg(message: &str) -> ExitCode {
    eprintln!("medmesh: configuration error: {message}");
    ExitCode::from(EXIT_CONFIG as u8)
}

fn usage(message: &str) -> ExitCode {
    eprintln!("medmesh: {message}");
    ExitCode::from(EXIT_CONFIG as u8)
}

/// Writes to stdout, ignoring a closed pipe: a platform whose stdout went away keeps running.
fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

fn print_schema() {
    write_stdout(&gateway_graphql::schema_sdl());
}

fn print_dev_banner(settings: &Settings, platform: &Platform, demo: Option<&medmesh::demo::Demo>) {
    let gateway = platform.gateway_addr.expect("dev runs the gateway");
    let admin = platform.admin_addr;
    let data_dir =
        std::fs::canonicalize(&settings.data_dir).unwrap_or_else(|_| settings.data_dir.clone());
    let mut lines = vec![
        String::new(),
        "MedMesh dev is running — embedded SQLite, in-process bus and cache. Not for production."
            .to_string(),
        String::new(),
        format!("  GraphQL playground  http://{gateway}/"),
        format!("  GraphQL endpoint    http://{gateway}/graphql"),
        format!("  Subscriptions       ws://{gateway}/graphql/ws"),
        format!("  Metrics and probes  http://{admin}/metrics   /live   /ready"),
    ];
    for service in &platform.services {
        lines.push(format!(
            "  gRPC {:<14} {}   (health + reflection)",
            service.service.as_str(),
            service.grpc_addr
        ));
    }
    lines.push(format!("  Data directory      {}", data_dir.display()));
    lines.push(String::new());
    lines.push(format!("  OIDC issuer (DEV ONLY)  {}", platform.issuer_url));
    if platform.dev_issuer.is_some() {
        lines.push(
            "  Demo users (username = password): admin, doctor, nurse, pharmacist, patient".into(),
        );
        lines.push("  Get a token:".into());
        lines.push(format!(
            "    curl -s -d grant_type=password -d client_id=medmesh-web -d username=patient -d password=patient {}/protocol/openid-connect/token",
            platform.issuer_url
        ));
        lines.push(
            "  Service and partner clients (client credentials) use the secret \"dev-secret\"."
                .into(),
        );
    }
    if let Some(demo) = demo {
        lines.push(format!(
            "  Demo clinic: {} — the demo doctor ({}) sees patients Mon-Fri 09:00-17:00.",
            demo.clinic, demo.doctor_id
        ));
    }
    lines.push(String::new());
    lines.push(
        "  Try in the playground:  { meshHealth { healthy services { name status latencyMs } } }"
            .into(),
    );
    lines.push(
        "  As a patient (top-right picker):  { doctors { doctors { id displayName specializationName } } }"
            .into(),
    );
    lines.push("  Press Ctrl-C to stop.".into());
    lines.push(String::new());
    write_stdout(&(lines.join("\n") + "\n"));
}
