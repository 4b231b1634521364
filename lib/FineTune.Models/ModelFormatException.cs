// The one exception type for a model file that cannot be used: the message names the file, the field and what was
// expected.
namespace FineTune.Models;

public sealed class ModelFormatException(string message) : Exception(message);
