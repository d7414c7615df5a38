//! The fixtures' interaction payloads parse with serenity's strict models (as Discord's real
//! payloads do), and the models really are strict: a payload missing a field Discord always
//! sends is refused, which the endpoint answers with a 400.

use janus_fixtures::discord::payloads::{User, autocomplete, button, command, modal, ping, select};
use serenity::model::application::{CommandDataOptionValue, ComponentInteractionDataKind, Interaction};

fn parse(payload: &serde_json::Value) -> Interaction {
    serde_json::from_value(payload.clone()).unwrap_or_else(|error| panic!("{error}: {payload}"))
}

#[test]
fn every_fixture_payload_parses_as_its_kind() {
    let alice = User::new("1000000000000000001", "alice");
    assert!(matches!(parse(&ping()), Interaction::Ping(_)));
    let Interaction::Command(request) = parse(&command(&alice, "42", "request", &[("cluster", "prod")]))
    else {
        panic!("a command");
    };
    assert_eq!(
        request.user.id.get(),
        1_000_000_000_000_000_001,
        "the user comes from member.user"
    );
    assert_eq!(request.data.name, "janus");
    let CommandDataOptionValue::SubCommand(options) = &request.data.options[0].value else {
        panic!("a subcommand");
    };
    assert_eq!(options[0].value, CommandDataOptionValue::String("prod".into()));
    let Interaction::Autocomplete(typing) = parse(&autocomplete(
        &alice,
        "42",
        "request",
        &[("cluster", "pr")],
        "cluster",
    )) else {
        panic!("autocomplete");
    };
    let CommandDataOptionValue::SubCommand(options) = &typing.data.options[0].value else {
        panic!("a subcommand");
    };
    assert!(matches!(&options[0].value, CommandDataOptionValue::Autocomplete { value, .. } if value == "pr"));
    let Interaction::Component(click) = parse(&button(&alice, "42", "43", "janus_approve:jr-aaaaaaaa"))
    else {
        panic!("a component");
    };
    assert_eq!(click.data.custom_id, "janus_approve:jr-aaaaaaaa");
    assert!(matches!(click.data.kind, ComponentInteractionDataKind::Button));
    let Interaction::Component(chosen) =
        parse(&select(&alice, "42", "43", "janus_ttl:jr-aaaaaaaa", &["3600"]))
    else {
        panic!("a component");
    };
    assert!(
        matches!(&chosen.data.kind, ComponentInteractionDataKind::StringSelect { values } if values == &["3600"]),
        "{:?}",
        chosen.data.kind
    );
    let Interaction::Modal(form) = parse(&modal(
        &alice,
        "42",
        Some("43"),
        "janus_deny_modal:jr-aaaaaaaa",
        &[("reason", "no")],
    )) else {
        panic!("a modal");
    };
    assert_eq!(form.data.custom_id, "janus_deny_modal:jr-aaaaaaaa");
}

#[test]
fn the_models_refuse_payloads_missing_required_fields() {
    let alice = User::new("1000000000000000001", "alice");
    let mut click = button(&alice, "42", "43", "janus_approve:jr-aaaaaaaa");
    assert!(serde_json::from_value::<Interaction>(click.clone()).is_ok());
    click.as_object_mut().unwrap().remove("attachment_size_limit");
    assert!(serde_json::from_value::<Interaction>(click).is_err());
    let mut click = button(&alice, "42", "43", "janus_approve:jr-aaaaaaaa");
    click["member"].as_object_mut().unwrap().remove("user");
    assert!(serde_json::from_value::<Interaction>(click).is_err());
}
