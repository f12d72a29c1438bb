use nodebom_e2e::ContainerdDaemon;
use containerd_client::services::v1::{events_client::EventsClient, SubscribeRequest};
use containerd_client::tonic::Request;
#[tokio::test]
async fn dbg() {
    let daemon = ContainerdDaemon::start().unwrap();
    let ch = containerd_client::connect(daemon.socket()).await.unwrap();
    for filters in [vec![], vec![r#"namespace=="k8s.io",topic=="/images/create""#.to_string()], vec!["namespace==k8s.io".to_string()]] {
        let mut c = EventsClient::new(ch.clone());
        let r = tokio::time::timeout(std::time::Duration::from_secs(3), c.subscribe(Request::new(SubscribeRequest { filters: filters.clone() }))).await;
        match r { Ok(Ok(_)) => println!("{filters:?}: ok"), Ok(Err(s)) => println!("{filters:?}: {s:?} src={:?}", std::error::Error::source(&s)), Err(_) => println!("{filters:?}: timeout") }
    }
}
