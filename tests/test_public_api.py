import toolwire


def test_the_public_api_is_exactly_what_all_names() -> None:
    assert sorted(toolwire.__all__) == [
        "BuiltinRegistry",
        "Outcome",
        "Principal",
        "Settings",
        "ToolCall",
        "ToolwireError",
        "__version__",
        "create_app",
    ]
    for name in toolwire.__all__:
        assert getattr(toolwire, name) is not None
