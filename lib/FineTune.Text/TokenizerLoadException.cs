// Thrown when tokenizer files are missing, malformed, or of a kind this library does not support.
namespace FineTune.Text;

public sealed class TokenizerLoadException(string message) : Exception(message);
