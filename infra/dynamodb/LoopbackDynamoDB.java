// DynamoDB Local bound to 127.0.0.1 only (infra/stack.sh runs it in place of the jar's own
// main). DynamoDB Local has no bind-address option: its Jetty server is made with a port
// alone and so listens on every interface. This builds the server from the same command
// line as the jar's main does, sets its connectors' host to the loopback address before
// they open, and starts it. stack.sh compiles it once (javac --release 17, cached in
// .tools/dynamodb-loopback/) and runs the class:
//   java -cp DynamoDBLocal.jar:<class dir> LoopbackDynamoDB -inMemory -port N ...
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDB {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    // The Jetty server is a private field: the one way in without the jar's sources.
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server jetty = (Server) field.get(proxy);
    Connector[] connectors = jetty.getConnectors();
    if (connectors.length == 0) {
      throw new IllegalStateException("DynamoDB Local made no connector to bind");
    }
    for (Connector connector : connectors) {
      ((ServerConnector) connector).setHost("127.0.0.1");
    }
    proxy.start();
  }
}
